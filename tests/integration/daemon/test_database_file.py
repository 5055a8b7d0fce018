"""The SQLite file is the daemon's whole memory (issue 22): deleted or replaced under a running
daemon, every job stops and it exits 1; a start that finds its journal without it, or a file
it cannot use, refuses and creates nothing."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from monitor.daemon.leader import Deposed, Lead, LeaderLock
from monitor.errors import Refused
from monitor.storage.db import DatabaseFile, make_engine, session_scope, upgrade
from monitor.storage.models import DaemonLeader, JobRun
from tests.integration.daemon.conftest import Daemon, daemon_config, wait_for


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'sfm.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


def _sfm(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor.cli", "--config", str(config), *args],
        cwd=config.parent,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "SFM_LANG": "en"},
        check=False,
    )


def test_the_file_opened_is_known_by_device_and_inode(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    opened = DatabaseFile.of(sqlite_engine)
    assert opened is not None and opened.still_there()
    shutil.copy(tmp_path / "sfm.db", tmp_path / "copy.db")
    (tmp_path / "sfm.db").rename(tmp_path / "moved.db")
    assert not opened.still_there()  # gone from its path
    (tmp_path / "copy.db").rename(tmp_path / "sfm.db")
    assert not opened.still_there()  # another file at its path
    assert DatabaseFile.of(make_engine("postgresql://u@127.0.0.1/x")) is None


def test_a_leader_whose_file_was_deleted_writes_nothing_more(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    lock = LeaderLock(sqlite_engine)
    assert lock.try_acquire()
    try:
        with session_scope(sqlite_engine) as session:
            session.add(JobRun(job_id="before", started_at=_now(), outcome="ok"))
        (tmp_path / "sfm.db").unlink()
        with (
            pytest.raises(Deposed, match="已被删除或替换"),
            session_scope(sqlite_engine) as session,
        ):
            session.add(JobRun(job_id="after", started_at=_now(), outcome="ok"))
        assert lock.check() is Lead.LOST
    finally:
        lock.release()
    assert not (tmp_path / "sfm.db").exists()  # nothing made a new, empty one


def test_a_daemon_whose_file_is_deleted_stops_and_exits_1(
    tmp_path: Path, daemons: list[Daemon]
) -> None:
    database = tmp_path / "sfm.db"
    config = daemon_config(tmp_path, f"sqlite:///{database}", {}, extra="")
    assert _sfm(config, "db", "upgrade").returncode == 0
    engine = make_engine(f"sqlite:///{database}")
    daemon = Daemon(config, tmp_path)
    daemons.append(daemon)

    def leading() -> bool:
        with session_scope(engine) as session:
            row = session.get(DaemonLeader, 1)
            return row is not None and row.pid == daemon.pid

    wait_for(leading, timeout=60, what="the daemon to lead")
    wait_for(
        lambda: _job_ran(engine, "registration-sweep"), timeout=60, what="a sweep to be recorded"
    )
    engine.dispose()
    for path in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
        path.unlink(missing_ok=True)
    assert daemon.process.wait(timeout=60) == 1, daemon.log()
    assert "deleted or replaced" in daemon.log()
    assert not database.exists()  # the daemon made no empty database in its place


def test_a_journal_without_its_database_stops_every_start(tmp_path: Path) -> None:
    database = tmp_path / "sfm.db"
    config = daemon_config(tmp_path, f"sqlite:///{database}", {}, extra="")
    Path(f"{database}-wal").write_bytes(b"the pages the lost database still needs")
    for args in (("db", "upgrade"), ("run",), ("status",)):
        result = _sfm(config, *args)
        assert result.returncode == 3, (args, result.stderr)
        assert "without their database" in result.stderr and "restore" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert not database.exists(), args
    with pytest.raises(Refused):
        make_engine(f"sqlite:///{database}")


def test_a_file_sfm_cannot_write_stops_the_start_and_says_how_to_fix_it(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    sqlite_engine.dispose()
    shm = tmp_path / "sfm.db-shm"
    shm.touch()
    # immutable: unwritable even for root, as a 0444 file is for the service user
    if subprocess.run(["chattr", "+i", str(shm)], check=False).returncode != 0:
        pytest.skip("chattr is not available here")
    try:
        with pytest.raises(Refused) as refused:
            make_engine(f"sqlite:///{tmp_path / 'sfm.db'}")
        assert "sfm.db-shm" in str(refused.value) and "chmod 600" in str(refused.value)
    finally:
        subprocess.run(["chattr", "-i", str(shm)], check=True)


def _job_ran(engine: Engine, job: str) -> bool:
    with engine.connect() as connection:
        return bool(
            connection.execute(
                text("SELECT 1 FROM job_run WHERE job_id = :job AND outcome != 'running'"),
                {"job": job},
            ).scalar()
        )


def _now() -> object:
    from monitor.clock import now_utc

    return now_utc()
