"""The API's contract for decisions, notes, raised flags, the audit, exports and the outbox,
against a running daemon on SQLite and PostgreSQL: each call's answer and each stable error
(code, HTTP status, the CLI's exit code), and two decisions on one flag through two
connections, of which exactly one is recorded."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook
from sqlalchemy import Engine, select, text
from sqlmodel import Session, col

from monitor.api.protocol import OPERATOR_HEADER, PREFIX, RESULT_HEADER
from monitor.codes import check_character
from monitor.storage.models import FlagAudit
from tests.conftest import write_config
from tests.integration.alerts.conftest import SmtpServer, smtp, write_alert_config  # noqa: F401
from tests.integration.daemon.conftest import Daemon, wait_for
from tests.integration.daemon.test_api_client import HEAVY
from tests.integration.test_audit_chain import _behind_the_triggers_back
from tests.integration.test_flags import EXPECTED, code_of, flags, one, swept  # noqa: F401

SFM = [sys.executable, "-m", "monitor.cli"]
ABSENT_CODE = "91110108MA9999999" + check_character("91110108MA9999999")


@pytest.fixture
def daemon_socket(swept: Engine, database_url: str, tmp_path: Path) -> Iterator[Path]:  # noqa: F811
    socket = tmp_path / "sfm.sock"
    config = write_config(tmp_path, database_url, f'[daemon]\nsocket = "{socket}"\n')
    yield from _served(config, tmp_path, socket)


def _served(config: Path, folder: Path, socket: Path) -> Iterator[Path]:
    daemon = Daemon(config, folder)
    try:
        wait_for(socket.is_socket, what="the API to open")
        with connection(socket) as first:  # bound is not yet serving: wait for an answer
            wait_for(lambda: _answers(first), what="the API to answer")
        yield socket
    finally:
        daemon.kill()


def _answers(client: httpx.Client) -> bool:
    try:
        return client.get("/status").status_code == 200
    except httpx.TransportError:
        return False


def connection(socket: Path, operator: str | None = "li", language: str = "zh") -> httpx.Client:
    """A client of its own connection to the daemon, acting as `operator` (the database's
    own account may name one where the config allows it, as the test config does)."""
    headers = {"Accept-Language": language}
    if operator:
        headers[OPERATOR_HEADER] = operator
    return httpx.Client(
        transport=httpx.HTTPTransport(uds=str(socket)),
        base_url="http://sfm" + PREFIX,
        headers=headers,
        timeout=120,
    )


def error_of(response: httpx.Response, status: int, code: str, exit_code: int) -> str:
    """The JSON error's message, once its status, stable code and exit code are as said."""
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert (error["code"], error["exit"]) == (code, exit_code), error
    assert error["message"] and isinstance(error["details"], list)
    return str(error["message"])


def staff_entries(engine: Engine, flag_id: int) -> list[tuple[str, str | None, str]]:
    with Session(engine) as session:
        rows = session.scalars(
            select(FlagAudit).where(col(FlagAudit.flag_id) == flag_id).order_by(FlagAudit.id)
        )
        return [(row.actor, row.from_state, row.to_state) for row in rows if row.actor != "sfm"]


def test_decisions_are_recorded_from_the_state_they_were_decided_from(
    daemon_socket: Path,
    swept: Engine,  # noqa: F811
) -> None:
    haidian = one(swept, "art12.2-terminated", "华芯微电子")
    fangshan = one(swept, "art12.5-penalty", "燕化")
    decisions = f"/flags/{haidian.id}/decisions"
    with connection(daemon_socket) as li:
        made = li.post(decisions, json={"to": "confirmed", "from": "open", "reason": " 核实 "})
        assert made.status_code == 201, made.text
        answer = made.json()
        assert answer["id"] == haidian.id and answer["state"] == "confirmed"
        audit = answer["audit"]
        assert (audit["from"], audit["to"], audit["actor"], audit["reason"]) == (
            "open",
            "confirmed",
            "li",
            "核实",
        )
        assert audit["actor_name"] == "李明（市经信局）" and audit["at"].startswith("20")
        # decided from a state the flag is no longer in: refused, nothing recorded
        stale = li.post(decisions, json={"to": "dismissed", "from": "open", "reason": "改主意"})
        assert "已变为已确认" in error_of(stale, 409, "refused", 3)
        # from the state it is in, but a move the lifecycle forbids
        forbidden = li.post(
            decisions, json={"to": "dismissed", "from": "confirmed", "reason": "改主意"}
        )
        error_of(forbidden, 409, "refused", 3)
        assert li.get(f"/flags/{haidian.id}").json()["state"] == "confirmed"

        for body in (
            {"to": "resolved", "from": "confirmed", "reason": "x"},  # the system's, not staff's
            {"to": "open", "from": "nope", "reason": "x"},
            {"to": "open", "reason": "x"},
            {"from": "confirmed", "reason": "x"},
            {"to": "open", "from": "confirmed"},
            {"to": "open", "from": "confirmed", "reason": "   "},
        ):
            error_of(li.post(decisions, json=body), 400, "bad_input", 2)
        error_of(li.post(decisions, content=b"{not json"), 400, "bad_input", 2)
        missing = {"to": "confirmed", "from": "open", "reason": "x"}
        error_of(li.post("/flags/99999/decisions", json=missing), 404, "not_found", 4)
        error_of(li.post("/flags/abc/decisions", json=missing), 404, "not_found", 4)
    assert staff_entries(swept, haidian.id or 0) == [("li", "open", "confirmed")]

    outside = {"to": "confirmed", "from": "open", "reason": "越权"}
    with connection(daemon_socket, "wang") as wang:  # 海淀区's operator, on 房山区's flag
        refused = wang.post(f"/flags/{fangshan.id}/decisions", json=outside)
        assert "房山区" in error_of(refused, 409, "refused", 3)
    with connection(daemon_socket, operator=None) as nobody:  # root is no configured operator
        error_of(nobody.post(f"/flags/{fangshan.id}/decisions", json=outside), 409, "refused", 3)
    assert staff_entries(swept, fangshan.id or 0) == []


def test_notes_and_raised_flags(
    daemon_socket: Path,
    swept: Engine,  # noqa: F811
    upstream: dict[str, Any],
) -> None:
    haidian = one(swept, "art12.2-terminated", "华芯微电子")
    fangshan = one(swept, "art12.5-penalty", "燕化")
    with connection(daemon_socket, "wang") as wang:
        noted = wang.post(f"/flags/{haidian.id}/notes", json={"text": "区里已电话核实"})
        assert noted.status_code == 201, noted.text
        assert noted.json() == {"id": haidian.id, "state": "open"}
        error_of(wang.post(f"/flags/{haidian.id}/notes", json={"text": "  "}), 400, "bad_input", 2)
        error_of(wang.post(f"/flags/{haidian.id}/notes", json={}), 400, "bad_input", 2)
        error_of(wang.post("/flags/99999/notes", json={"text": "x"}), 404, "not_found", 4)
        outside = wang.post(f"/flags/{fangshan.id}/notes", json={"text": "x"})
        error_of(outside, 409, "refused", 3)
    assert staff_entries(swept, haidian.id or 0) == [("wang", "open", "open")]

    code = code_of(upstream, "华芯微电子")
    rule = "art12.1-false-information"
    with connection(daemon_socket) as li:
        raised = li.post("/flags", json={"credit_code": code, "rule": rule, "reason": "外部线索"})
        assert raised.status_code == 201, raised.text
        assert raised.json()["rule_id"] == rule and raised.json()["state"] == "open"
        shown = li.get(f"/flags/{raised.json()['id']}").json()
        assert shown["credit_code"] == code and shown["audit"][0]["actor"] == "li"
        for body, status, error in (
            ({"credit_code": code, "rule": "no-such-rule", "reason": "x"}, 400, "bad_input"),
            ({"credit_code": code, "rule": rule, "reason": " "}, 400, "bad_input"),
            ({"credit_code": code, "reason": "x"}, 400, "bad_input"),
            ({"rule": rule, "reason": "x"}, 400, "bad_input"),
            ({"credit_code": "bogus", "rule": rule, "reason": "x"}, 400, "bad_input"),
            ({"credit_code": ABSENT_CODE, "rule": rule, "reason": "x"}, 404, "not_found"),
        ):
            error_of(li.post("/flags", json=body), status, error, {400: 2, 404: 4}[status])
    with connection(daemon_socket, "wang") as wang:  # 海淀区's own operator may raise there
        fangshan_code = code_of(upstream, "燕化")
        outside = {"credit_code": fangshan_code, "rule": rule, "reason": "x"}
        error_of(wang.post("/flags", json=outside), 409, "refused", 3)


def test_errors_speak_the_callers_language(daemon_socket: Path) -> None:
    body = {"to": "confirmed", "from": "open", "reason": "x"}
    with connection(daemon_socket, language="en") as english:
        said = error_of(english.post("/flags/99999/decisions", json=body), 404, "not_found", 4)
        assert "99999" in said and said.isascii()
    with connection(daemon_socket, language="zh") as chinese:
        said = error_of(chinese.post("/flags/99999/decisions", json=body), 404, "not_found", 4)
        assert "99999" in said and not said.isascii()


def test_of_two_decisions_on_one_flag_through_two_connections_exactly_one_wins(
    daemon_socket: Path,
    swept: Engine,  # noqa: F811
) -> None:
    open_flags = [flag for flag in flags(swept).values() if flag.state == "open"][:6]
    assert len(open_flags) >= 4
    for flag in open_flags:
        barrier = threading.Barrier(2)
        answers: dict[str, httpx.Response] = {}

        def decide(
            to_state: str,
            flag_id: int = flag.id or 0,
            barrier: threading.Barrier = barrier,
            answers: dict[str, httpx.Response] = answers,
        ) -> None:
            with connection(daemon_socket) as own:  # a connection of each decision's own
                own.get("/flags/1")  # connected before the race starts
                barrier.wait()
                answers[to_state] = own.post(
                    f"/flags/{flag_id}/decisions",
                    json={"to": to_state, "from": "open", "reason": "同时决定"},
                )

        racers = [threading.Thread(target=decide, args=(s,)) for s in ("confirmed", "dismissed")]
        for racer in racers:
            racer.start()
        for racer in racers:
            racer.join(timeout=120)
        statuses = sorted(answer.status_code for answer in answers.values())
        assert statuses == [201, 409], {k: v.text for k, v in answers.items()}
        [winner] = [state for state, answer in answers.items() if answer.status_code == 201]
        [loser] = [answer for answer in answers.values() if answer.status_code == 409]
        error_of(loser, 409, "refused", 3)
        assert staff_entries(swept, flag.id or 0) == [("li", "open", winner)]


def test_the_cli_is_refused_exit_3_when_the_flag_moved_after_it_read_it(
    daemon_socket: Path,
    swept: Engine,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`sfm flags confirm` reads the flag, then decides from what it read: a decision
    recorded in between (another office's) wins, and this one exits 3."""
    from monitor.api import client
    from monitor.cli import run

    flag = one(swept, "art12.3-major-accident", "南苑航空")
    real_get = client.Api.get

    def meanwhile(self: client.Api, path: str, **params: Any) -> Any:
        seen = real_get(self, path, **params)
        if path == f"/flags/{flag.id}":
            with connection(daemon_socket) as other:
                other.post(
                    f"/flags/{flag.id}/decisions",
                    json={"to": "dismissed", "from": "open", "reason": "另一处室"},
                )
        return seen

    monkeypatch.setattr(client.Api, "get", meanwhile)
    monkeypatch.setenv("SFM_OPERATOR", "li")
    monkeypatch.setenv("SFM_LANG", "zh")
    config = tmp_path / "sfm.toml"
    code = run(["--config", str(config), "flags", "confirm", str(flag.id), "--reason", "迟了"])
    assert code == 3
    assert staff_entries(swept, flag.id or 0) == [("li", "open", "dismissed")]


def test_the_audit_and_its_chain(
    daemon_socket: Path,
    swept: Engine,  # noqa: F811
    upstream: dict[str, Any],
) -> None:
    haidian = one(swept, "art12.2-terminated", "华芯微电子")
    code = code_of(upstream, "华芯微电子")
    with connection(daemon_socket) as li:
        decided = {"to": "confirmed", "from": "open", "reason": "现场核实"}
        assert li.post(f"/flags/{haidian.id}/decisions", json=decided).status_code == 201
        trail = li.get("/audit")
        assert trail.status_code == 200
        entries = trail.json()
        assert {"at", "actor", "actor_name", "credit_code", "change_text", "reason_text"} <= set(
            entries[0]
        )
        assert [e["at"] for e in entries] == sorted(e["at"] for e in entries)
        mine = li.get("/audit", params={"factory": code}).json()
        assert mine and {e["credit_code"] for e in mine} == {code} and len(mine) < len(entries)
        assert any(e["actor"] == "li" and e["reason"] == "现场核实" for e in mine)
        error_of(li.get("/audit", params={"factory": "bogus"}), 400, "bad_input", 2)
        error_of(li.get("/audit", params={"factory": ABSENT_CODE}), 404, "not_found", 4)

        walked = li.get("/audit/verify")
        assert walked.status_code == 200
        found = walked.json()
        assert found["intact"] is True and found["first_break"] is None
        assert found["length"] >= len(entries) - found["unsealed"] > 0
        _behind_the_triggers_back(
            swept,
            f"UPDATE flag_audit SET reason = '无需处理' WHERE flag_id = {haidian.id}"
            " AND to_state = 'confirmed'",
        )
        broken = li.get("/audit/verify")  # an answer, not an error: the CLI shows it, exit 1
        assert broken.status_code == 200
        assert broken.json()["intact"] is False and "changed" in broken.json()["first_break"]


def test_exports_are_sent_as_the_answers_body(
    daemon_socket: Path,
    swept: Engine,  # noqa: F811
) -> None:
    with connection(daemon_socket) as li:
        csv_answer = li.get("/exports/flags", params={"format": "csv"})
        assert csv_answer.status_code == 200
        assert json.loads(csv_answer.headers[RESULT_HEADER]) == {"count": len(EXPECTED)}
        rows = csv_answer.content.decode("utf-8-sig").splitlines()
        assert rows[0].startswith("编号,统一社会信用代码") and len(rows) >= len(EXPECTED) + 1
        with connection(daemon_socket, language="en") as english:
            header = english.get("/exports/flags", params={"format": "csv"}).content
            assert header.decode("utf-8-sig").isascii() is False  # names stay Chinese
            assert header.decode("utf-8-sig").splitlines()[0].isascii()
        xlsx = li.get("/exports/flags", params={"format": "xlsx"})
        assert xlsx.status_code == 200 and xlsx.content.startswith(b"PK")
        sheet = load_workbook(io.BytesIO(xlsx.content)).active
        assert sheet is not None and sheet.max_row == len(EXPECTED) + 1
        error_of(li.get("/exports/flags", params={"format": "pdf"}), 400, "bad_input", 2)
        error_of(li.get("/exports/flags"), 400, "bad_input", 2)

        filings = li.get("/exports/filings", params={"format": "csv", "quarter": "2025Q3"})
        assert filings.status_code == 200
        assert json.loads(filings.headers[RESULT_HEADER])["count"] >= 0
        district = {"format": "csv", "quarter": "2025q3", "district": "海淀"}
        assert li.get("/exports/filings", params=district).status_code == 200
        for params in (
            {"format": "csv", "quarter": "2026Q5"},
            {"format": "csv"},
            {"format": "csv", "quarter": "2026Q4", "district": "Gotham"},
            {"format": "doc", "quarter": "2026Q4"},
        ):
            said = error_of(li.get("/exports/filings", params=params), 400, "bad_input", 2)
            assert said.startswith(("--quarter", "--district", "--format", "请求")), said
        bad_quarter = li.get("/exports/filings", params={"format": "csv", "quarter": "2026Q5"})
        assert "2026Q5 不是季度" in error_of(bad_quarter, 400, "bad_input", 2)
        bad_format = li.get("/exports/flags", params={"format": "pdf"})
        assert "不是 csv 或 xlsx" in error_of(bad_format, 400, "bad_input", 2)


@pytest.fixture
def mail_daemon(
    swept: Engine,  # noqa: F811
    database_url: str,
    tmp_path: Path,
    smtp: SmtpServer,  # noqa: F811
) -> Iterator[Path]:
    """A daemon whose 海淀 office is reached by mail only, through a server the test stops
    and starts; an alert fails at its first failed attempt."""
    socket = tmp_path / "sfm.sock"
    config = write_alert_config(
        tmp_path,
        database_url,
        {"municipal": ["outbox://municipal"], "110108": [smtp.url("haidian@example.gov.cn")]},
        extra="retry_budget = 1\nbackoff_initial_s = 0\n"
        # the daemon's own dispatch out of the way: the test's calls send
        + '[schedule]\ndispatch = "0 0 0 1 1 *"\n'
        + f'[daemon]\nsocket = "{socket}"\n',
    )
    yield from _served(config, tmp_path, socket)


def test_the_outbox_listed_retried_and_tested(
    mail_daemon: Path,
    smtp: SmtpServer,  # noqa: F811
    tmp_path: Path,
) -> None:
    with connection(mail_daemon) as li:
        tested = li.post("/notify/test", json={"authority": "海淀"})
        assert tested.status_code == 200, tested.text
        outcome = tested.json()
        assert (outcome["authority"], outcome["status"]) == ("区110108", "sent")
        assert [url["status"] for url in outcome["urls"]] == ["success"]
        assert len(sent_tests(smtp)) == 1
        error_of(li.post("/notify/test", json={"authority": "Gotham"}), 404, "not_found", 4)
        error_of(li.post("/notify/test", json={}), 400, "bad_input", 2)

        smtp.stop()
        failing = li.post("/notify/test", json={"authority": "110108"}).json()
        assert failing["status"] == "failed" and failing["urls"][0]["status"] == "failure"
        listed = li.get("/alerts").json()  # the daemon's own jobs add theirs (filings)
        tests = [row for row in listed if row["kind"] == "test"]
        assert [row["status"] for row in tests] == ["failed", "sent"]  # newest first
        assert tests[0]["authority_name"] == "区110108" and tests[0]["last_error"]
        assert [row["id"] for row in listed] == sorted((row["id"] for row in listed), reverse=True)
        # pages (the daemon's jobs may add newer alerts between two calls)
        [top] = li.get("/alerts", params={"limit": 1}).json()
        after = [row["id"] for row in li.get("/alerts", params={"limit": 2, "offset": 1}).json()]
        assert len(after) == 2 and after[0] > after[1] and after[1] <= top["id"]
        for bad in ({"limit": "-1"}, {"limit": "0"}, {"limit": "x"}, {"offset": "-1"}):
            error_of(li.get("/alerts", params=bad), 400, "bad_input", 2)
        failed_ones = li.get("/alerts", params={"failed": "true"}).json()
        [failed] = [row for row in failed_ones if row["kind"] == "test"]
        assert failed["id"] == tests[0]["id"]
        assert {row["status"] for row in failed_ones} == {"failed"}

        still_down = li.post(f"/alerts/{failed['id']}/retry")  # tried again, fails again
        assert still_down.status_code == 200, still_down.text
        report = still_down.json()
        assert set(report) == {"sent", "retrying", "failed", "config_errors", "out_of_time"}
        # this run's, or the daemon's own dispatch's if it took the alert first
        wait_for(lambda: status_of(li, failed["id"]) == "failed", what="the retry to fail")
        # the CLI shows the run and exits 1, as `sfm alerts retry` did before
        done = subprocess.run(
            [*SFM, "--config", str(tmp_path / "sfm.toml"), "alerts", "retry", "--failed"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            env={"PATH": "/usr/bin:/bin", "SFM_LANG": "zh", "PYTHONPATH": str(Path.cwd())},
        )
        assert done.returncode == 1, (done.stdout, done.stderr)
        assert re.search(r"失败 [1-9]\d* 条", done.stdout) and "部分通知未能送达" in done.stderr

        smtp.start()
        every = li.post("/alerts/retry")  # other offices' alerts have no URL here: they fail
        assert every.status_code == 200, every.text
        assert every.json()["sent"] >= 1
        wait_for(lambda: status_of(li, failed["id"]) == "sent", what="the retry to go out")
        assert len(sent_tests(smtp)) == 2
        error_of(li.post(f"/alerts/{failed['id']}/retry"), 404, "not_found", 4)  # sent now
        error_of(li.post("/alerts/99999/retry"), 404, "not_found", 4)
        error_of(li.post("/alerts/abc/retry"), 404, "not_found", 4)


def status_of(client: httpx.Client, alert_id: int) -> str:
    [alert] = [row for row in client.get("/alerts").json() if row["id"] == alert_id]
    return str(alert["status"])


def sent_tests(smtp: SmtpServer) -> list[Any]:  # noqa: F811
    return [mail for mail in smtp.mails if "测试" in mail.subject]


CLIENT = """
import json, sys
from monitor.cli import run
code = run(sys.argv[1:])
sys.stdout.flush()
heavy = sorted(m for m in sys.modules if m.split(".")[0] in {roots} or m in {dotted})
print("\\nIMPORTED " + json.dumps({{"code": code, "heavy": heavy}}), file=sys.stderr)
"""


def test_through_the_daemon_these_commands_import_nothing_heavy(
    daemon_socket: Path,
    swept: Engine,  # noqa: F811
    tmp_path: Path,
) -> None:
    roots = sorted(name for name in HEAVY if "." not in name)
    dotted = sorted(name for name in HEAVY if "." in name)
    script = CLIENT.format(roots=roots, dotted=dotted)
    flag = one(swept, "art12.2-terminated", "华芯微电子")
    config = tmp_path / "sfm.toml"
    exported = tmp_path / "flags.xlsx"
    env = {
        "PATH": "/usr/bin:/bin",
        "SFM_LANG": "zh",
        "SFM_OPERATOR": "li",
        "PYTHONPATH": str(Path.cwd()),
    }
    for argv, said in (
        (("flags", "confirm", str(flag.id), "--reason", "核实"), "已确认"),
        (("flags", "note", str(flag.id), "--text", "已电话核实"), "核实情况"),
        (("audit",), "核实"),
        (("audit", "verify"), "审计链完整"),
        (("alerts", "list"), ""),
        (("notify", "test", "municipal"), "success"),
        (("export", "flags", str(exported)), str(len(EXPECTED))),
    ):
        done = subprocess.run(
            [sys.executable, "-c", script, "--config", str(config), *argv],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )
        marker = done.stderr.rindex("IMPORTED ")
        report = json.loads(done.stderr[marker + len("IMPORTED ") :])
        assert report["code"] == 0, (argv, done.stdout, done.stderr)
        assert report["heavy"] == [], argv
        assert said in done.stdout, (argv, done.stdout)
    # the client wrote OUT itself, with its own umask (sfm's 0077)
    assert oct(exported.stat().st_mode & 0o777) == "0o600"
    sheet = load_workbook(exported).active
    assert sheet is not None and sheet.max_row == len(EXPECTED) + 1


def test_a_broken_chain_through_the_daemon_exits_1_and_still_prints_its_json(
    daemon_socket: Path,
    swept: Engine,  # noqa: F811
    tmp_path: Path,
) -> None:
    with swept.connect() as connection_:
        first = connection_.execute(text("SELECT min(id) FROM flag_audit")).scalar_one()
    _behind_the_triggers_back(swept, f"DELETE FROM flag_audit WHERE id = {first}")
    done = subprocess.run(
        [*SFM, "--config", str(tmp_path / "sfm.toml"), "audit", "verify", "--json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "SFM_LANG": "en", "PYTHONPATH": str(Path.cwd())},
    )
    assert done.returncode == 1, done.stderr
    assert json.loads(done.stdout)["intact"] is False
    assert "the audit chain breaks" in done.stderr
