"""One leader across database outages (issue 22): a standby waits the outage out, a leader
whose lock session is gone stops for a standby, and one whose session lives keeps the lead.

The outage is this test's own: a loopback TCP proxy in front of the shared PostgreSQL that
cuts (closes) or pauses the connections that go through it, and nobody else's.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.engine import make_url
from sqlmodel import col

from monitor.daemon.leader import Lead, LeaderLock
from monitor.storage.db import make_engine, session_scope
from monitor.storage.models import DaemonLeader, JobRun, SweepRun
from tests.integration.daemon.conftest import Daemon, daemon_config, wait_for

ON_POSTGRES = pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)


class Proxy:
    """Forwards loopback TCP to the database; `cut` closes every connection and refuses new
    ones until `restore`; `pause` holds the bytes (the sessions live) until `restore`."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.accepting = threading.Event()
        self.accepting.set()
        self.flowing = threading.Event()
        self.flowing.set()
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, url: str) -> str:
        return make_url(url).set(host="127.0.0.1", port=self.port).render_as_string(False)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.accepting.is_set():
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                self.flowing.wait()
                sink.sendall(data)
        except OSError:
            pass
        for end in (source, sink):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        self.accepting.clear()
        with self.lock:
            ends, self.sockets = self.sockets, []
        for end in ends:
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            end.close()

    def pause(self) -> None:
        self.flowing.clear()

    def restore(self) -> None:
        self.accepting.set()
        self.flowing.set()

    def close(self) -> None:
        self.restore()
        self.listener.close()
        self.cut()


@pytest.fixture
def proxy(database_url: str) -> Iterator[Proxy]:
    parsed = make_url(database_url)
    running = Proxy((parsed.host or "127.0.0.1", parsed.port or 5432))
    yield running
    running.close()


def _said(daemon: Daemon, words: str) -> bool:
    """In its output or its log file (stdout is buffered while it runs)."""
    log_file = daemon.out.parent / "sfm.log"
    text = log_file.read_text(encoding="utf-8") if log_file.exists() else ""
    return words in daemon.log() + text


def _leader_pid(engine: Engine) -> int | None:
    with session_scope(engine) as session:
        row = session.get(DaemonLeader, 1)
        return row.pid if row else None


def _swept_after(engine: Engine, moment: float) -> bool:
    with session_scope(engine) as session:
        run = session.get(JobRun, "registration-sweep")
        return run is not None and run.outcome == "ok" and run.started_at.timestamp() > moment


@ON_POSTGRES
def test_the_lock_session_paused_is_unreachable_then_held_and_cut_is_lost(
    register: Engine, database_url: str, proxy: Proxy
) -> None:
    engine = make_engine(proxy.url(database_url))
    lock = LeaderLock(engine)
    try:
        assert lock.try_acquire()
        assert lock.check(timeout_s=5) is Lead.HELD
        proxy.pause()
        assert lock.check(timeout_s=0.5) is Lead.UNREACHABLE
        assert lock.check(timeout_s=0.5) is Lead.UNREACHABLE  # still the same question
        proxy.restore()
        assert lock.check(timeout_s=10) is Lead.HELD  # same session: the lead is kept
        proxy.cut()
        assert lock.check(timeout_s=10) is Lead.LOST
    finally:
        proxy.restore()
        lock.release()
        engine.dispose()


@ON_POSTGRES
def test_a_standby_waits_out_an_outage_and_takes_over_when_the_database_returns(
    register: Engine, database_url: str, proxy: Proxy, tmp_path: Path, daemons: list[Daemon]
) -> None:
    fast = "[daemon]\nstandby_poll_s = 0.5\n"
    (tmp_path / "leader").mkdir()
    (tmp_path / "standby").mkdir()
    leader_config = daemon_config(tmp_path / "leader", database_url, {}, extra=fast)
    standby_config = daemon_config(tmp_path / "standby", proxy.url(database_url), {}, extra=fast)
    leader = Daemon(leader_config, tmp_path / "leader", name="leader")
    daemons.append(leader)
    wait_for(lambda: _leader_pid(register) == leader.pid, what="the leader")
    standby = Daemon(standby_config, tmp_path / "standby", "--standby", name="standby")
    daemons.append(standby)
    wait_for(lambda: _said(standby, "standing by"), timeout=60, what="the standby")
    proxy.cut()
    wait_for(lambda: _said(standby, "does not answer"), timeout=30, what="the standby to see it")
    threading.Event().wait(3)
    assert standby.process.poll() is None, standby.log()  # waited, did not die
    proxy.restore()
    leader.stop(signal.SIGKILL)
    wait_for(lambda: _leader_pid(register) == standby.pid, timeout=90, what="the standby to lead")
    import time

    took_over = time.time()
    wait_for(lambda: _swept_after(register, took_over), timeout=60, what="the new leader's sweep")
    assert standby.stop() == 0


@ON_POSTGRES
def test_a_leader_that_loses_its_session_in_an_outage_exits_1_for_the_standby(
    register: Engine, database_url: str, proxy: Proxy, tmp_path: Path, daemons: list[Daemon]
) -> None:
    fast = "[daemon]\nstandby_poll_s = 0.5\ndb_outage_s = 5\n"
    (tmp_path / "leader").mkdir()
    (tmp_path / "standby").mkdir()
    leader_config = daemon_config(tmp_path / "leader", proxy.url(database_url), {}, extra=fast)
    standby_config = daemon_config(tmp_path / "standby", database_url, {}, extra=fast)
    leader = Daemon(leader_config, tmp_path / "leader", name="leader")
    daemons.append(leader)
    wait_for(lambda: _leader_pid(register) == leader.pid, what="the leader")
    standby = Daemon(standby_config, tmp_path / "standby", "--standby", name="standby")
    daemons.append(standby)
    # the outage strikes while the leader's sweep is running
    wait_for(lambda: _sweep_running(register), timeout=60, what="a sweep under way")
    proxy.cut()
    assert leader.process.wait(timeout=60) == 1, leader.log()
    assert "lost its database lock" in leader.log() or "lost the lead" in leader.log()
    assert "unexpected error" not in leader.log()
    wait_for(lambda: _leader_pid(register) == standby.pid, timeout=30, what="the standby to lead")
    import time

    took_over = time.time()
    wait_for(lambda: _swept_after(register, took_over), timeout=60, what="the new leader's sweep")
    with session_scope(register) as session:
        runs = list(session.scalars(select(SweepRun).order_by(col(SweepRun.id))))
    # the sweep the lost leader left `running` is marked interrupted by the next one
    assert all(run.status != "running" for run in runs[:-1]), [(r.id, r.status) for r in runs]
    assert "interrupted" in {run.status for run in runs}
    assert standby.stop() == 0


def _sweep_running(engine: Engine) -> bool:
    with session_scope(engine) as session:
        return (
            session.scalar(select(SweepRun.id).where(col(SweepRun.status) == "running")) is not None
        )


class _ScriptedLock:
    """The lock's answers in order (a unit test of the watching loop's logic alone)."""

    def __init__(self, answers: list[Lead], stop: threading.Event) -> None:
        self.answers, self.stop = answers, stop

    def check(self, timeout_s: float) -> Lead:
        if len(self.answers) == 1:
            self.stop.set()
        return self.answers.pop(0)


class _PausableDaemon:
    def __init__(self, poll_s: float) -> None:
        from types import SimpleNamespace

        self.runtime = SimpleNamespace(
            config=SimpleNamespace(
                settings=SimpleNamespace(daemon=SimpleNamespace(standby_poll_s=poll_s))
            )
        )
        self.calls: list[str] = []

    def pause(self) -> None:
        self.calls.append("pause")

    def resume(self) -> None:
        self.calls.append("resume")

    def watch_clock(self) -> bool:
        return False


def test_an_outage_shorter_than_the_allowance_keeps_the_lead_and_resumes_the_jobs() -> None:
    from monitor.cli.run_cmd import keep_the_lead

    stop = threading.Event()
    lock = _ScriptedLock([Lead.HELD, Lead.UNREACHABLE, Lead.UNREACHABLE, Lead.HELD], stop)
    daemon = _PausableDaemon(poll_s=0.01)
    assert keep_the_lead(lock, daemon, stop, outage_s=60) is None  # type: ignore[arg-type]
    assert daemon.calls == ["pause", "resume"]


def test_an_outage_longer_than_the_allowance_ends_the_lead() -> None:
    from monitor.cli.run_cmd import keep_the_lead

    stop = threading.Event()
    lock = _ScriptedLock([Lead.UNREACHABLE] * 50 + [Lead.HELD], stop)
    daemon = _PausableDaemon(poll_s=0.01)
    lost = keep_the_lead(lock, daemon, stop, outage_s=0.1)  # type: ignore[arg-type]
    assert lost is not None and lost.key == "daemon.db_outage"
    assert daemon.calls == ["pause"]


def test_a_lost_session_ends_the_lead_at_once() -> None:
    from monitor.cli.run_cmd import keep_the_lead

    stop = threading.Event()
    lock = _ScriptedLock([Lead.HELD, Lead.LOST, Lead.HELD], stop)
    daemon = _PausableDaemon(poll_s=0.01)
    lost = keep_the_lead(lock, daemon, stop, outage_s=60)  # type: ignore[arg-type]
    assert lost is not None and lost.key == "daemon.lost_lock"
