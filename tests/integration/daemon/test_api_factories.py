"""/factories as the daemon serves it over its socket: the register's listing (paged), an
enterprise's history, the import as an uploaded body (bounded, all or nothing) and the
bureau's decisions on a designation, with the error codes the CLI's exit codes follow."""

from __future__ import annotations

import contextlib
import io
import json
import multiprocessing
import os
import pwd
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func, select

from monitor.storage.models import DesignationEvent, Factory
from tests.conftest import DEMO_FACTORIES, many_factories, write_config
from tests.integration.daemon.conftest import Daemon, accepting, wait_for
from tests.integration.daemon.test_api_client import run_client

NOBODY, NOGROUP = 65534, 65534
MAX_IMPORT = 64 << 10
# A district office's account, for the import through the socket by another OS user, and
# the test's own account (the CLI through the daemon acts as who runs it).
CONFIG = """
[operators.{me}]
name = "运维值班"
scope = "municipal"
[operators.nobody]
name = "海淀区经信局 值班员"
scope = ["110108"]
[daemon]
socket = "{socket}"
socket_group = "{group}"
max_import_bytes = {limit}
"""


class Door:
    """The daemon's API over its socket, as any HTTP client sees it."""

    def __init__(self, socket: Path, config: Path, folder: Path) -> None:
        self.socket, self.config, self.folder = socket, config, folder
        self.http = httpx.Client(
            transport=httpx.HTTPTransport(uds=str(socket)),
            base_url="http://sfm/api/v1",
            headers={"Accept-Language": "zh", "Sfm-Operator": "li"},
            timeout=60,
        )

    def as_operator(self, user: str) -> dict[str, str]:
        return {"Sfm-Operator": user}

    def upload(self, path: Path, *, filename: str | None = None, **params: Any) -> httpx.Response:
        query = {"filename": filename or path.name} | {k: str(v) for k, v in params.items()}
        with path.open("rb") as body:
            return self.http.post("/factories/import", content=body, params=query)


@pytest.fixture
def door(engine: Engine, database_url: str, tmp_path: Path) -> Iterator[Door]:
    folder = Path(tempfile.mkdtemp(prefix="sfm-api-"))
    folder.chmod(0o755)  # the socket's own mode is what admits or refuses
    socket = folder / "sfm.sock"
    group = "nogroup" if os.getuid() == 0 else ""
    me = pwd.getpwuid(os.getuid()).pw_name
    extra = CONFIG.format(me=me, socket=socket, group=group, limit=MAX_IMPORT)
    config = write_config(tmp_path, database_url, extra)
    daemon = Daemon(config, tmp_path)
    door = Door(socket, config, folder)
    try:
        wait_for(lambda: accepting(socket), what="the API to accept connections")
        yield door
    finally:
        door.http.close()
        daemon.kill()
        shutil.rmtree(folder, ignore_errors=True)


def counts(engine: Engine) -> tuple[int, int]:
    with engine.connect() as connection:
        factories = connection.execute(select(func.count()).select_from(Factory)).scalar_one()
        events = connection.execute(select(func.count()).select_from(DesignationEvent)).scalar_one()
    return factories, events


def error_of(response: httpx.Response) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]
    return error


def test_an_import_is_an_uploaded_body_checked_whole_before_anything_is_written(
    door: Door, engine: Engine, tmp_path: Path
) -> None:
    dry = door.upload(DEMO_FACTORIES, dry_run="true")
    assert dry.status_code == 200, dry.text
    assert dry.json()["dry_run"] is True and len(dry.json()["added"]) == 34
    assert counts(engine) == (0, 0)

    text = DEMO_FACTORIES.read_text(encoding="utf-8")
    row = next(n for n, line in enumerate(text.splitlines(), 1) if "91110000" in line)
    broken = tmp_path / "broken.csv"
    broken.write_text(text.replace("91110000", "9111000O", 1), encoding="utf-8")
    refused = door.upload(broken, filename="factories.csv")
    assert refused.status_code == 400
    error = error_of(refused)
    assert error["code"] == "bad_input" and error["exit"] == 2
    assert "factories.csv" in error["message"]  # the caller's name for the file, not the temp's
    [detail] = error["details"]
    assert detail.startswith(f"factories.csv 第 {row} 行，列“统一社会信用代码”")
    assert counts(engine) == (0, 0)

    done = door.upload(DEMO_FACTORIES)
    assert done.status_code == 200
    assert len(done.json()["added"]) == 34
    assert done.json() | {"added": []} == {
        "file": "factories.csv",
        "dry_run": False,
        "added": [],
        "updated": {},
        "unchanged": 0,
    }
    assert counts(engine) == (34, 34)
    again = door.upload(DEMO_FACTORIES)
    assert again.json()["unchanged"] == 34 and again.json()["added"] == []
    with engine.connect() as connection:
        actors = set(connection.execute(select(DesignationEvent.actor)).scalars())
    assert actors == {"li"}

    unsupported = door.upload(DEMO_FACTORIES, filename="factories.txt")
    assert unsupported.status_code == 400 and ".txt" in error_of(unsupported)["message"]


def test_an_upload_over_max_import_bytes_is_refused_and_writes_nothing(
    door: Door, engine: Engine, tmp_path: Path
) -> None:
    big = many_factories(tmp_path / "big.csv", 16_000)  # about 1 MB, the limit 64 KiB
    assert big.stat().st_size > 8 * MAX_IMPORT
    refused = door.upload(big)
    assert refused.status_code == 413
    error = error_of(refused)
    assert error["code"] == "too_large" and error["exit"] == 2
    assert str(MAX_IMPORT) in error["message"]
    assert counts(engine) == (0, 0)
    # a body without a length is counted as it comes
    chunks = (big.read_bytes()[i : i + 4096] for i in range(0, big.stat().st_size, 4096))
    streamed = door.http.post("/factories/import", content=chunks, params={"filename": "big.csv"})
    assert streamed.status_code == 413
    assert counts(engine) == (0, 0)
    # the CLI through the daemon: one line, exit 2
    code, out, _heavy = run_client(door.config, tmp_path, "factories", "import", str(big))
    assert code == 2 and out == ""
    assert counts(engine) == (0, 0)
    # without a daemon, the same operation in-process: the same refusal
    from monitor.api.client import Api
    from monitor.api.inprocess import InProcessTransport
    from monitor.runtime import Runtime

    runtime = Runtime.load(str(door.config))
    direct = Api(InProcessTransport(runtime, max_import_bytes=MAX_IMPORT), "test", runtime.close)
    try:
        answered = direct.http.post(
            "/factories/import", content=big.read_bytes(), params={"filename": "big.csv"}
        )
    finally:
        direct.close()
    assert answered.status_code == 413 and error_of(answered)["code"] == "too_large"
    assert counts(engine) == (0, 0)
    assert door.upload(DEMO_FACTORIES).status_code == 200  # the daemon answers as before


def test_the_register_is_listed_in_pages_and_an_enterprise_shown(
    door: Door, engine: Engine
) -> None:
    assert door.http.get("/factories").json() == []
    assert door.upload(DEMO_FACTORIES).status_code == 200
    everything = door.http.get("/factories", params={"limit": 1000}).json()
    assert len(everything) == 34
    order = [(row["district_code"], row["credit_code"]) for row in everything]
    assert order == sorted(order)
    paged = [
        row
        for offset in range(0, 34, 10)
        for row in door.http.get("/factories", params={"limit": 10, "offset": offset}).json()
    ]
    assert paged == everything
    assert len(door.http.get("/factories").json()) == 34  # the default page holds them all
    haidian = door.http.get("/factories", params={"district": "海淀"}).json()
    assert haidian and {row["district"] for row in haidian} == {"海淀区"}
    advanced = door.http.get("/factories", params={"level": "先进级"}).json()
    assert advanced and {row["level"] for row in advanced} == {"advanced"}

    for params, words in (
        ({"district": "Gotham"}, "Gotham"),
        ({"level": "gold"}, "gold"),
        ({"limit": "0"}, "limit"),
        ({"offset": "-1"}, "offset"),
    ):
        refused = door.http.get("/factories", params=params)
        assert refused.status_code == 400, params
        assert error_of(refused)["exit"] == 2 and words in error_of(refused)["message"]

    code = everything[0]["credit_code"]
    shown = door.http.get(f"/factories/{code}").json()
    assert shown["credit_code"] == code and shown["status"] == "active"
    assert [event["kind"] for event in shown["events"]] == ["designated"]
    assert shown["events"][0]["actor"] == "li" and shown["events"][0]["source"] == "factories.csv"
    assert [held["level"] for held in shown["designations"]] == [shown["level"]]

    missing = door.http.get("/factories/91110000600037341L")
    assert missing.status_code == 404 and error_of(missing)["exit"] == 4
    malformed = door.http.get("/factories/91110000600037341K")
    assert malformed.status_code == 400 and error_of(malformed)["exit"] == 2
    slashed = door.http.get("/factories/9111%2F0000600037341L")  # as the client sends "/"
    assert slashed.status_code == 400 and "18" in error_of(slashed)["message"]

    english = door.http.get("/factories/91110000600037341L", headers={"Accept-Language": "en"})
    assert "no designated factory" in error_of(english)["message"]


def test_the_bureaus_decisions_on_a_designation(door: Door, engine: Engine) -> None:
    assert door.upload(DEMO_FACTORIES).status_code == 200
    rows = door.http.get("/factories").json()
    haidian = next(r for r in rows if r["district_code"] == "110108" and r["level"] == "basic")
    chaoyang = next(r for r in rows if r["district_code"] == "110105" and r["level"] == "basic")
    code = haidian["credit_code"]

    renamed = door.http.post(
        f"/factories/{code}/rename",
        json={
            "name": "北京改名科技有限公司",
            "approved_on": "2026/3/1",
            "ref": "京经信函〔2026〕1号",
        },
    )
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["name"] == "北京改名科技有限公司"
    assert renamed.json()["former_name"] == haidian["name"]

    bad_date = door.http.post(
        f"/factories/{code}/rename", json={"name": "又一个名字", "approved_on": "March 1"}
    )
    assert bad_date.status_code == 400
    assert error_of(bad_date)["message"].startswith("--approved-on: ")
    blank = door.http.post(f"/factories/{code}/rename", json={"approved_on": "2026-03-02"})
    assert blank.status_code == 400 and "--name" in error_of(blank)["message"]
    by_district = door.http.post(
        f"/factories/{code}/rename",
        json={"name": "区里改的名", "approved_on": "2026-03-02"},
        headers=door.as_operator("wang"),
    )
    assert by_district.status_code == 409 and error_of(by_district)["exit"] == 3

    moved = door.http.post(
        f"/factories/{code}/move", json={"district": "昌平", "decided_on": "2026-04-01"}
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["district_code"] == "110114"
    assert moved.json()["former_districts"] == ["110108"]
    unknown = door.http.post(
        f"/factories/{code}/move", json={"district": "Gotham", "decided_on": "2026-04-01"}
    )
    assert unknown.status_code == 400 and "--district" in error_of(unknown)["message"]

    revoke = {"decided_on": "2026年5月1日", "ref": "京经信发〔2026〕9号", "reason": "12(2) 注销"}
    out_of_scope = door.http.post(
        f"/factories/{chaoyang['credit_code']}/revoke",
        json=revoke,
        headers=door.as_operator("wang"),
    )
    assert out_of_scope.status_code == 409
    assert (
        error_of(out_of_scope)["code"] == "refused"
        and "朝阳区" in error_of(out_of_scope)["message"]
    )
    no_date = door.http.post(f"/factories/{code}/revoke", json=revoke | {"decided_on": "x"})
    assert no_date.status_code == 400
    assert error_of(no_date)["message"].startswith("--decided-on: ")
    revoked = door.http.post(f"/factories/{code}/revoke", json=revoke)
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    twice = door.http.post(f"/factories/{code}/revoke", json=revoke)
    assert twice.status_code == 409 and error_of(twice)["exit"] == 3
    nowhere = door.http.post("/factories/91110000600037341L/revoke", json=revoke)
    assert nowhere.status_code == 404 and error_of(nowhere)["exit"] == 4

    shown = door.http.get(f"/factories/{code}").json()
    assert [event["kind"] for event in shown["events"]] == [
        "designated",
        "renamed",
        "updated",
        "revoked",
    ]
    assert {event["actor"] for event in shown["events"][1:]} == {"li"}
    assert door.http.get(f"/factories/{chaoyang['credit_code']}").json()["status"] == "active"


def test_through_the_daemon_the_cli_renders_the_same_json_importing_nothing_heavy(
    door: Door, tmp_path: Path
) -> None:
    code, out, heavy = run_client(
        door.config, tmp_path, "factories", "import", str(DEMO_FACTORIES), "--json"
    )
    assert (code, heavy) == (0, []), out
    assert len(json.loads(out)["added"]) == 34
    listed = door.http.get("/factories").json()
    code, out, heavy = run_client(door.config, tmp_path, "factories", "list", "--json")
    assert (code, heavy) == (0, []) and json.loads(out) == listed
    first = listed[0]["credit_code"]
    code, out, heavy = run_client(door.config, tmp_path, "factories", "show", first, "--json")
    assert (code, heavy) == (0, []) and json.loads(out) == door.http.get(
        f"/factories/{first}"
    ).json()
    code, out, heavy = run_client(door.config, tmp_path, "factories", "list", "--district", "海淀")
    assert (code, heavy) == (0, []) and "统一社会信用代码" in out and "海淀区" in out
    code, out, heavy = run_client(door.config, tmp_path, "factories", "show", first)
    assert (code, heavy) == (0, []) and first in out and "认定" in out
    code, _out, heavy = run_client(door.config, tmp_path, "factories", "show", "91110000600037341L")
    assert (code, heavy) == (4, [])
    haidian = next(row for row in listed if row["district_code"] == "110108")["credit_code"]
    move = ["factories", "move", haidian, "--district", "昌平"]
    code, _out, heavy = run_client(door.config, tmp_path, *move, "--decided-on", "someday")
    assert (code, heavy) == (2, [])
    code, out, heavy = run_client(door.config, tmp_path, *move, "--decided-on", "2026-04-01")
    assert (code, heavy) == (0, []) and "海淀区 → 昌平区" in out


# ---------------------------------------------------------------- another OS user's file


def _import_as(uid: int, gid: int, socket: str, argv: list[str], results: Any) -> None:
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)
    os.environ.pop("SFM_OPERATOR", None)
    os.environ.pop("SFM_CONFIG", None)
    os.environ["SFM_LANG"] = "zh"
    os.chdir(Path(socket).parent)
    from monitor.cli import run

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = run(["--socket", socket, *argv])
    results.put((code, out.getvalue(), err.getvalue()))


def import_as(uid: int, socket: Path, *argv: str) -> tuple[int, str, str]:
    """`sfm ARGV` through the daemon from a child process that is `uid`."""
    fork = multiprocessing.get_context("fork")
    results = fork.Queue()
    child = fork.Process(target=_import_as, args=(uid, NOGROUP, str(socket), list(argv), results))
    child.start()
    outcome = results.get(timeout=60)
    child.join(timeout=10)
    return outcome  # type: ignore[no-any-return]


@pytest.mark.skipif(os.getuid() != 0, reason="the caller is another OS user: needs root")
def test_an_import_through_the_socket_reads_only_what_its_caller_can_read(
    door: Door, engine: Engine, tmp_path: Path
) -> None:
    rows = DEMO_FACTORIES.read_text(encoding="utf-8").splitlines()
    register = door.folder / "海淀.csv"
    register.write_text(
        "\n".join([rows[0], *[r for r in rows if "海淀区" in r]]) + "\n", encoding="utf-8"
    )
    os.chown(register, NOBODY, NOGROUP)
    register.chmod(0o600)  # only the caller can read it

    secret = tmp_path / "secret.csv"  # the daemon (root) could read it; the caller cannot
    secret.write_text("\n".join(rows) + "\n", encoding="utf-8")
    code, out, err = import_as(NOBODY, door.socket, "factories", "import", str(secret))
    assert code == 2, (out, err)
    assert "Permission denied" in err and "secret.csv" in err
    assert counts(engine) == (0, 0)

    code, out, err = import_as(NOBODY, door.socket, "factories", "import", str(register))
    assert code == 0, err
    assert "海淀.csv" in out and "新增 4 家" in out
    with engine.connect() as connection:
        actors = set(connection.execute(select(DesignationEvent.actor)).scalars())
        sources = set(connection.execute(select(DesignationEvent.source)).scalars())
    assert counts(engine) == (4, 4)
    assert actors == {"nobody"} and sources == {"海淀.csv"}

    everything = door.folder / "all.csv"  # readable, but beyond the district's scope
    shutil.copy(DEMO_FACTORIES, everything)
    os.chown(everything, NOBODY, NOGROUP)
    code, _out, err = import_as(NOBODY, door.socket, "factories", "import", str(everything))
    assert code == 3 and "all.csv" in err
    assert counts(engine) == (4, 4)


# ---------------------------------------------------------------- two staff at once


def test_concurrent_decisions_on_one_enterprise_are_taken_one_after_the_other(
    door: Door, engine: Engine
) -> None:
    """The daemon answers requests concurrently: eight revocations of one enterprise sent at
    once record one revocation; the others are refused (exit 3) as already revoked."""
    from concurrent.futures import ThreadPoolExecutor

    assert door.upload(DEMO_FACTORIES).status_code == 200
    rows = door.http.get("/factories").json()
    code = next(r for r in rows if r["level"] == "basic")["credit_code"]
    revoke = {"decided_on": "2026-05-01", "ref": "京经信发〔2026〕9号", "reason": "12(2) 注销"}

    def send(_: int) -> int:
        with httpx.Client(
            transport=httpx.HTTPTransport(uds=str(door.socket)),
            base_url="http://sfm/api/v1",
            headers={"Sfm-Operator": "li"},
            timeout=60,
        ) as client:
            return client.post(f"/factories/{code}/revoke", json=revoke).status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = sorted(pool.map(send, range(8)))
    assert statuses == [200] + [409] * 7
    shown = door.http.get(f"/factories/{code}").json()
    assert [event["kind"] for event in shown["events"]] == ["designated", "revoked"]


def test_imports_at_once_are_taken_one_after_the_other(door: Door, engine: Engine) -> None:
    """Two offices importing the same register at once: one adds it, the other finds it
    unchanged; neither meets the other's rows half-way."""
    from concurrent.futures import ThreadPoolExecutor

    def send(_: int) -> httpx.Response:
        with (
            httpx.Client(
                transport=httpx.HTTPTransport(uds=str(door.socket)),
                base_url="http://sfm/api/v1",
                headers={"Sfm-Operator": "li"},
                timeout=60,
            ) as client,
            DEMO_FACTORIES.open("rb") as body,
        ):
            return client.post(
                "/factories/import", content=body, params={"filename": "factories.csv"}
            )

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(send, range(4)))
    assert [answer.status_code for answer in answers] == [200] * 4, [a.text for a in answers]
    added = sorted(len(answer.json()["added"]) for answer in answers)
    assert added == [0, 0, 0, 34]
    assert counts(engine) == (34, 34)
