"""Staff sweeps (`sfm check`) as a resource of the API: started as a job of the daemon (or,
without one, on a thread of the CLI's own process), followed, and refused while another runs.

The daemon here sweeps on its schedule only once a year, and its start-up catch-up is
told the sweeps just ran, so that the only sweeps are the ones the tests start.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlmodel import Session, col

from monitor.api.client import Api, ApiError, connect
from monitor.clock import now_utc
from monitor.storage.db import session_scope
from monitor.storage.models import JobRun, SweepRun
from tests.conftest import Cli, shipped_connectors, write_config
from tests.integration.daemon.conftest import Daemon, daemons, wait_for  # noqa: F401
from tests.integration.daemon.test_outages import ON_POSTGRES, Proxy, proxy  # noqa: F401

YEARLY = "0 0 3 1 1 *"
STAFF_DAEMON = f"""
[schedule]
registration_sweep = "{YEARLY}"
credit_sweep = "{YEARLY}"
safety_sweep = "{YEARLY}"
[daemon]
socket = "{{socket}}"
"""
SWEEP_JOBS = ("registration-sweep", "credit-sweep", "safety-sweep")


@pytest.fixture
def socket_path() -> Iterator[Path]:
    """A short path (a Unix socket's is at most 107 bytes), removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="sfm-sweeps-"))
    try:
        yield folder / "sfm.sock"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def connectors(*, latency_ms: int = 0, failing: bool = False) -> str:
    """The shipped connectors on the built-in simulator, slowed or failing as asked."""
    text = shipped_connectors()
    behaviour = f"latency_ms = {latency_ms}\n"
    if failing:  # every source fails every factory at once, without retries
        behaviour += "error_rate = 1.0\n"
        text = text.replace("retries = 3\n", "").replace('\ntopic = "', '\nretries = 0\ntopic = "')
    return text.replace("[simulator]\n", "[simulator]\n" + behaviour, 1)


def staff_config(tmp_path: Path, database_url: str, socket: Path, extra: str) -> Path:
    return write_config(tmp_path, database_url, STAFF_DAEMON.format(socket=socket) + extra)


def sweeps_just_ran(engine: Engine) -> None:
    """The scheduled sweeps are recorded as run now: the daemon's start catches none up."""
    with session_scope(engine) as session:
        for job in SWEEP_JOBS:
            now = now_utc()
            session.add(JobRun(job_id=job, started_at=now, finished_at=now, outcome="ok"))


def start_daemon(
    config: Path, cwd: Path, started: list[Daemon], engine: Engine, socket: Path
) -> tuple[Daemon, Api]:
    sweeps_just_ran(engine)
    daemon = Daemon(config, cwd)
    started.append(daemon)
    wait_for(
        lambda: socket.is_socket() or daemon.process.poll() is not None, what="the API to open"
    )
    assert daemon.process.poll() is None, daemon.log()
    client = connect(str(config), None)
    assert "InProcess" not in type(client.http._transport).__name__  # the daemon's socket
    return daemon, client


def follow(client: Api, sweep: dict[str, Any], until: Callable[[dict[str, Any]], bool]) -> Any:
    def read() -> dict[str, Any] | None:
        nonlocal sweep
        sweep = client.get(f"/sweeps/{sweep['id']}")
        return sweep if until(sweep) else None

    return wait_for(read, timeout=120, what="the sweep")


def runs(engine: Engine) -> list[SweepRun]:
    with Session(engine) as session:
        return list(session.scalars(select(SweepRun).order_by(col(SweepRun.id))))


def test_a_staff_sweep_runs_as_a_job_of_the_daemon_and_is_followed_to_its_result(
    register: Engine,
    database_url: str,
    tmp_path: Path,
    socket_path: Path,
    daemons: list[Daemon],  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SFM_LANG", "zh")
    config = staff_config(tmp_path, database_url, socket_path, connectors())
    daemon, client = start_daemon(config, tmp_path, daemons, register, socket_path)
    with closing(client):
        answer = client.http.post("/sweeps", json={"factory": None, "topic": None})
        assert answer.status_code == 202, answer.text
        started = answer.json()
        assert started["state"] in ("running", "done") and started["id"]
        assert started["in_daemon"] is True
        done = follow(client, started, lambda s: s["state"] != "running")
        assert done["state"] == "done", done["error"]
        result = done["result"]
        assert result["factories"] == 34
        assert set(result["connectors"]) == {"registry-qcc", "credit-qcc", "safety-tyc"}
        assert result["alerts"] is None  # the daemon's dispatch job sends them
        assert result["problems"] == [] and done["error"] is None
        assert done["progress"] == {"done": 3 * 34, "total": 3 * 34}
        assert done["shown"]["title"] == "核查完成：34 家工厂，用时 " + (
            f"{result['duration_s']:.1f} 秒"
        )
        assert [c["header"] for c in done["shown"]["columns"]][:2] == ["数据源", "类别"]
        assert any(line.startswith("规则核查") for line in done["shown"]["lines"])
        assert [s["id"] for s in client.get("/sweeps")] == [started["id"]]
        assert [run.status for run in runs(register)] == ["completed"]
        # the daemon's own sweep, recorded as it was asked (a job of the daemon, not this test)
        assert runs(register)[0].scope == {"factory": None, "topic": None}

        with pytest.raises(ApiError) as unknown:
            client.get("/sweeps/0000")
        assert unknown.value.exit_code == 4
        with pytest.raises(ApiError) as bad:
            client.post("/sweeps", {"topic": "weather"})
        assert bad.value.exit_code == 2
        with pytest.raises(ApiError) as missing:
            client.post("/sweeps", {"factory": "91110108MA0000000X"})
        assert missing.value.exit_code in (2, 4)  # a bad check character, or no such factory

    cli = Cli(capsys, config)
    shown = cli("check", "--topic", "credit")
    assert shown.code == 0, shown.err
    assert "核查完成：34 家工厂" in shown.out and "credit-qcc" in shown.out
    assert "registry-qcc" not in shown.out
    as_json = cli("check", "--factory", "911101081235534499", "--json")
    assert as_json.code == 0, as_json.err
    assert json.loads(as_json.out)["factories"] == 1
    assert [run.scope for run in runs(register)][1:] == [
        {"factory": None, "topic": "credit"},
        {"factory": "911101081235534499", "topic": None},
    ]

    # the client's path imports nothing of the sweep, the database or the daemon
    probe = (
        "import json, sys\n"
        "from monitor.cli import run\n"
        f"code = run(['--config', {str(config)!r}, 'check', '--topic', 'safety', '--json'])\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('sqlalchemy', 'sqlmodel', 'apscheduler', 'apprise', 'pydantic_settings') "
        "or m.startswith(('monitor.sweep', 'monitor.daemon', 'monitor.storage', "
        "'monitor.config', 'monitor.runtime', 'monitor.api.sweeps')))\n"
        "print(json.dumps([code, heavy]), file=sys.stderr)\n"
    )
    probed = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert json.loads(probed.stderr.strip().splitlines()[-1]) == [0, []], probed.stderr
    assert daemon.stop() == 0


def test_while_a_slow_staff_sweep_runs_a_second_is_refused_and_other_requests_are_answered(
    register: Engine,
    database_url: str,
    tmp_path: Path,
    socket_path: Path,
    daemons: list[Daemon],  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SFM_LANG", "zh")
    # every answer takes 2 s: 34 factories, 8 at a time, take five rounds per source
    config = staff_config(tmp_path, database_url, socket_path, connectors(latency_ms=2000))
    daemon, client = start_daemon(config, tmp_path, daemons, register, socket_path)
    with closing(client):
        sweep = client.post("/sweeps", {})
        assert sweep["state"] == "running"
        sweep = follow(client, sweep, lambda s: s["progress"]["total"])  # the factories counted
        with pytest.raises(ApiError) as second:
            client.post("/sweeps", {"topic": "safety"})
        assert second.value.exit_code == 3 and second.value.code == "refused"
        assert "另一次核查正在进行" in str(second.value)
        refused = Cli(capsys, config)("check")
        assert refused.code == 3
        assert "另一次核查正在进行" in refused.err

        flags = client.get("/flags", limit=5)  # answered while the sweep runs
        status = client.get("/status")
        still = client.get(f"/sweeps/{sweep['id']}")
        assert isinstance(flags, list) and isinstance(status, dict)
        assert still["state"] == "running"
        assert still["progress"]["done"] < still["progress"]["total"]
        assert [run.status for run in runs(register)] == ["running"]

    # SIGTERM: the staff sweep stops with the daemon's jobs, what it asked is stored
    assert daemon.stop(signal.SIGTERM, timeout=60) == 0
    assert [run.status for run in runs(register)] == ["interrupted"]


def test_a_staff_sweep_whose_sources_all_fail_exits_5_through_the_daemon(
    register: Engine,
    database_url: str,
    tmp_path: Path,
    socket_path: Path,
    daemons: list[Daemon],  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SFM_LANG", "zh")
    config = staff_config(tmp_path, database_url, socket_path, connectors(failing=True))
    daemon, client = start_daemon(config, tmp_path, daemons, register, socket_path)
    client.close()
    cli = Cli(capsys, config)
    result = cli("check")
    assert result.code == 5, result.err
    assert "数据源 registry-qcc 对所有企业均查询失败" in result.err
    assert "核查完成：34 家工厂" in result.out  # the table first, as ever
    as_json = cli("check", "--json")
    assert as_json.code == 5
    assert len(json.loads(as_json.out)["problems"]) == 3
    assert daemon.stop() == 0


def test_without_a_daemon_the_sweep_runs_on_a_thread_of_the_cli_and_delivers(
    register: Engine,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """In-process, POST answers at once; the polls see the sweep's thread get on; the alerts
    it raised are handed over before its result is final."""
    monkeypatch.chdir(tmp_path)
    socket = tmp_path / "none.sock"  # nobody listens: the API runs in this process
    config = staff_config(tmp_path, database_url, socket, connectors(latency_ms=300))
    client = connect(str(config), None)
    assert "InProcess" in type(client.http._transport).__name__
    with closing(client):
        answer = client.http.post("/sweeps", json={})
        assert answer.status_code == 202
        sweep = answer.json()
        assert sweep["state"] == "running" and sweep["in_daemon"] is False
        with pytest.raises(ApiError) as second:
            client.post("/sweeps", {})
        assert second.value.exit_code == 3
        seen = {sweep["progress"]["done"]}

        def ended() -> Any:
            nonlocal sweep
            sweep = client.get(f"/sweeps/{sweep['id']}")
            seen.add(sweep["progress"]["done"])
            return sweep["state"] != "running"

        wait_for(ended, timeout=120, what="the sweep")
        assert sweep["state"] == "done", sweep["error"]
        assert len(seen) > 2  # followed while it ran, not only at its end
        assert sweep["result"]["alerts"]["sent"] > 0  # delivered before it was done
        assert sweep["shown"]["lines"][-1].startswith(("已发送", "sent"))
    assert [run.status for run in runs(register)] == ["completed"]


@ON_POSTGRES
def test_a_daemon_paused_for_a_database_outage_refuses_a_staff_sweep_until_it_answers(
    register: Engine,
    database_url: str,
    proxy: Proxy,  # noqa: F811
    tmp_path: Path,
    socket_path: Path,
    daemons: list[Daemon],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SFM_LANG", "zh")
    outage = "[daemon]\nstandby_poll_s = 0.5\ndb_outage_s = 120\n"
    config = staff_config(tmp_path, proxy.url(database_url), socket_path, connectors()).read_text(
        encoding="utf-8"
    )
    # one [daemon] table: the socket's and the outage's settings together
    (tmp_path / "sfm.toml").write_text(config.replace("[daemon]\n", outage, 1), encoding="utf-8")
    daemon, client = start_daemon(tmp_path / "sfm.toml", tmp_path, daemons, register, socket_path)
    wait_for(lambda: _said(daemon, "daemon started"), what="the jobs to be scheduled")
    with closing(client):
        proxy.pause()  # the sessions live, the database does not answer
        try:
            wait_for(lambda: _said(daemon, "jobs paused"), timeout=60, what="the jobs paused")
            with pytest.raises(ApiError) as refused:
                client.post("/sweeps", {})
            assert refused.value.exit_code == 3
            assert "数据库无响应" in str(refused.value)
        finally:
            proxy.restore()
        wait_for(lambda: _said(daemon, "jobs resume"), timeout=60, what="the jobs resumed")
        sweep = client.post("/sweeps", {"topic": "credit"})
        done = follow(client, sweep, lambda s: s["state"] != "running")
        assert done["state"] == "done", done["error"]
    assert daemon.stop() == 0


def _said(daemon: Daemon, words: str) -> bool:
    log_file = daemon.out.parent / "sfm.log"
    text = log_file.read_text(encoding="utf-8") if log_file.exists() else ""
    return words in daemon.log() + text


@pytest.mark.parametrize(
    ("state", "text"),
    [
        ("paused", "数据库无响应"),
        ("lost_lead", "不再主管数据库"),
        ("stop", "守护进程正在停止"),
    ],
)
def test_the_daemon_refuses_a_staff_sweep_while_paused_deposed_or_stopping(
    tmp_path: Path, state: str, text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from monitor.api.routes import Caller
    from monitor.config import load_config
    from monitor.errors import Refused
    from monitor.runtime import Runtime
    from monitor.sweep.run import SWEEPING

    monkeypatch.setenv("SFM_LANG", "zh")
    config = write_config(tmp_path, f"sqlite:///{tmp_path / 'none.db'}", connectors())
    runtime = Runtime(load_config(config))
    events = {name: threading.Event() for name in ("paused", "lost_lead", "stop")}
    events[state].set()
    runtime.daemon = SimpleNamespace(**events)  # type: ignore[assignment]
    with pytest.raises(Refused, match=text):
        runtime.sweeps.start(Caller(0, 0, 0), None, None)
    assert not SWEEPING.locked()  # nothing claimed, nothing started
    assert runtime.sweeps.recent() == []
    assert not (tmp_path / "none.db").exists()
