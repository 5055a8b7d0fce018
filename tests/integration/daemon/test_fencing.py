"""A deposed leader cannot write (DESIGN §6, issue 22): each leadership has an epoch, and
every transaction the leader commits checks, in that transaction, that it is still its own."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select, text
from sqlmodel import col

from monitor.alerts.outbox import Outbox
from monitor.config import AlertsSettings
from monitor.daemon.leader import Deposed, LeaderLock
from monitor.storage.db import make_engine, session_scope
from monitor.storage.models import (
    Alert,
    DaemonLeader,
    JobRun,
    Observation,
    SweepRun,
)
from tests.integration.daemon.conftest import (
    Daemon,
    SmtpServer,
    daemon_config,
    wait_for,
)

OPS = "ops@example.org"
# the lock is a PostgreSQL session's: only there can it end under a running daemon
ON_POSTGRES = pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
LEADERSHIP = ("lost the lead", "lost its database lock")


def _epoch(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT epoch FROM daemon_epoch")).scalar_one())


def _leader_pid(engine: Engine) -> int | None:
    with session_scope(engine) as session:
        row = session.get(DaemonLeader, 1)
        return row.pid if row else None


def _state(engine: Engine) -> str:
    """Everything a daemon writes as it runs, as one digest."""
    with session_scope(engine) as session:
        parts: list[Any] = [
            [
                (r.job_id, str(r.started_at), r.outcome, r.detail)
                for r in session.scalars(select(JobRun).order_by(col(JobRun.job_id)))
            ],
            [
                (r.id, r.status, str(r.finished_at))
                for r in session.scalars(select(SweepRun).order_by(col(SweepRun.id)))
            ],
            session.scalar(select(col(Observation.id)).order_by(col(Observation.id).desc())),
            [
                (r.id, r.status, r.attempts)
                for r in session.scalars(select(Alert).order_by(col(Alert.id)))
            ],
            [(r.pid, str(r.since)) for r in session.scalars(select(DaemonLeader))],
        ]
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()


def _owe_ops_note(engine: Engine, key: str) -> int:
    """A note to ops due now, as a sweep's outbox writes it: the dispatch job sends it."""
    from datetime import UTC, datetime

    outbox = Outbox(None, AlertsSettings())  # type: ignore[arg-type]
    with session_scope(engine) as session:
        outbox.tell_ops(
            session, key, f"fence check {key}", "written after the lead was lost", datetime.now(UTC)
        )
    with session_scope(engine) as session:
        found = session.scalar(select(col(Alert.id)).where(col(Alert.dedup_key) == f"ops:{key}"))
    assert found is not None
    return found


def _lock_session_pid(engine: Engine) -> int | None:
    """The backend holding this schema's leader lock (the key leader.py derives)."""
    with engine.connect() as connection:
        return connection.execute(
            text(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
                " AND classid::bigint = (hashtext('sfm-lead')::bigint & 4294967295)"
                " AND objid::bigint = (hashtext(current_database() || '/' || current_schema())"
                "::bigint & 4294967295)"
            )
        ).scalar()


def _end_lock_session(engine: Engine) -> None:
    pid = _lock_session_pid(engine)
    assert pid is not None, "no one holds the leader lock"
    with engine.connect() as connection:
        assert connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
    wait_for(lambda: _lock_session_pid(engine) != pid, timeout=10, what="the lock session to end")


def _left_with_a_leadership_message(daemon: Daemon) -> None:
    code = daemon.process.wait(timeout=60)
    log = daemon.log()
    assert code == 1, log
    assert any(words in log for words in LEADERSHIP), log
    assert "PendingRollbackError" not in log and "unexpected error" not in log, log


# ---------------------------------------------------------------- the fence itself


def test_a_write_after_another_took_the_lead_does_not_commit(engine: Engine) -> None:
    lock = LeaderLock(engine)
    assert lock.try_acquire()
    try:
        assert lock.fence is not None and lock.fence.epoch == _epoch(engine)
        with session_scope(engine) as session:  # leading: it writes
            session.add(JobRun(job_id="mine", started_at=_now(), outcome="ok"))
        with engine.begin() as connection:  # a standby's takeover raises the epoch
            connection.execute(text("UPDATE daemon_epoch SET epoch = epoch + 1"))
        with session_scope(engine) as session:  # reading is harmless and still allowed
            assert session.get(JobRun, "mine") is not None
        with pytest.raises(Deposed), session_scope(engine) as session:
            session.add(JobRun(job_id="after", started_at=_now(), outcome="ok"))
        assert lock.fence.deposed.is_set()
        with pytest.raises(Deposed), session_scope(engine) as session:  # and never again
            session.execute(text("DELETE FROM job_run"))
        with pytest.raises(Deposed), engine.begin() as connection:  # outside a session too
            connection.execute(text("DELETE FROM job_run"))
    finally:
        lock.release()
    with session_scope(engine) as session:
        assert session.get(JobRun, "after") is None
        assert session.get(JobRun, "mine") is not None
        # the deposed one did not remove the record of who leads on its way out
        assert session.get(DaemonLeader, 1) is not None


def test_each_leadership_has_a_higher_epoch(engine: Engine) -> None:
    epochs = []
    for _ in range(3):
        lock = LeaderLock(engine)
        assert lock.try_acquire()
        assert lock.fence is not None
        epochs.append(lock.fence.epoch)
        with session_scope(engine) as session:
            session.add(JobRun(job_id=f"run{len(epochs)}", started_at=_now(), outcome="ok"))
        lock.release()
    assert epochs == sorted(set(epochs)) and len(epochs) == 3


def test_a_lost_lock_session_refuses_writes_before_anyone_takes_over(
    postgres_url: str,
) -> None:
    engine = make_engine(postgres_url)
    from monitor.storage.db import upgrade

    upgrade(engine)
    lock = LeaderLock(engine)
    assert lock.try_acquire()
    try:
        _end_lock_session(engine)
        with pytest.raises(Deposed), session_scope(engine) as session:
            session.add(JobRun(job_id="after", started_at=_now(), outcome="ok"))
        with session_scope(engine) as session:
            assert session.get(JobRun, "after") is None
    finally:
        lock.release()
        engine.dispose()


def _now() -> Any:
    from monitor.clock import now_utc

    return now_utc()


# ---------------------------------------------------------------- daemons


def test_a_daemon_whose_epoch_moved_on_writes_nothing_more_and_exits_1(
    register: Engine, database_url: str, tmp_path: Path, daemons: list[Daemon]
) -> None:
    config = daemon_config(tmp_path, database_url, {}, extra="[daemon]\nstandby_poll_s = 0.5\n")
    daemon = Daemon(config, tmp_path)
    daemons.append(daemon)
    wait_for(lambda: _leader_pid(register) == daemon.pid, what="the daemon to lead")
    wait_for(
        lambda: _state(register) and _swept(register), timeout=60, what="a sweep by the daemon"
    )
    with register.begin() as connection:  # what a standby taking the lead does first
        connection.execute(text("UPDATE daemon_epoch SET epoch = epoch + 1"))
    before = _state(register)
    noted = _owe_ops_note(register, "fence-epoch")
    after_note = _state(register)
    _left_with_a_leadership_message(daemon)
    assert _state(register) == after_note != before
    with session_scope(register) as session:
        alert = session.get(Alert, noted)
        assert alert is not None and alert.status == "pending" and alert.attempts == 0


@ON_POSTGRES
def test_a_leader_whose_lock_session_is_ended_writes_and_sends_nothing_more(
    register: Engine, database_url: str, tmp_path: Path, smtp: SmtpServer, daemons: list[Daemon]
) -> None:
    config = daemon_config(
        tmp_path, database_url, {"ops": [smtp.url(OPS)]}, extra="[daemon]\nstandby_poll_s = 5\n"
    )
    daemon = Daemon(config, tmp_path)
    daemons.append(daemon)
    wait_for(lambda: _leader_pid(register) == daemon.pid, what="the daemon to lead")
    wait_for(lambda: _swept(register), timeout=60, what="a sweep by the daemon")
    _end_lock_session(register)
    time.sleep(0.3)  # a commit whose check passed before the session ended lands by now
    noted = _owe_ops_note(register, "fence-session")
    frozen = _state(register)
    _left_with_a_leadership_message(daemon)
    assert _state(register) == frozen  # nothing written after the lock session ended
    assert not [m for m in smtp.mails if "fence check" in m.subject]
    with session_scope(register) as session:
        alert = session.get(Alert, noted)
        assert alert is not None and alert.status == "pending"


@ON_POSTGRES
def test_a_standby_takes_over_from_a_leader_whose_lock_session_is_ended(
    register: Engine, database_url: str, tmp_path: Path, smtp: SmtpServer, daemons: list[Daemon]
) -> None:
    config = daemon_config(
        tmp_path, database_url, {"ops": [smtp.url(OPS)]}, extra="[daemon]\nstandby_poll_s = 0.5\n"
    )
    leader = Daemon(config, tmp_path, name="leader")
    daemons.append(leader)
    wait_for(lambda: _leader_pid(register) == leader.pid, what="the leader")
    standby = Daemon(config, tmp_path, "--standby", name="standby")
    daemons.append(standby)
    wait_for(lambda: _swept(register), timeout=60, what="a sweep by the leader")
    first_epoch = _epoch(register)
    _end_lock_session(register)
    wait_for(lambda: _leader_pid(register) == standby.pid, timeout=20, what="the standby to lead")
    assert _epoch(register) == first_epoch + 1
    noted = _owe_ops_note(register, "fence-takeover")
    _left_with_a_leadership_message(leader)
    # the note is sent once, by the new leader
    wait_for(
        lambda: [m for m in smtp.mails if "fence check fence-takeover" in m.subject],
        timeout=30,
        what="the new leader to send the note",
    )
    time.sleep(2)
    assert len([m for m in smtp.mails if "fence check fence-takeover" in m.subject]) == 1
    with session_scope(register) as session:
        alert = session.get(Alert, noted)
        assert alert is not None and alert.status == "sent"
    assert "lost the lead" not in standby.log() and standby.process.poll() is None
    assert standby.stop(signal.SIGTERM) == 0
    assert os.path.exists(tmp_path / "leader.out")


def _swept(engine: Engine) -> bool:
    with session_scope(engine) as session:
        run = session.get(JobRun, "registration-sweep")
        return run is not None and run.outcome == "ok"
