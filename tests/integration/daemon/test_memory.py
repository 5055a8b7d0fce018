"""The daemon's memory over hours (issue 22's soak; `make stress` measures it): glibc's
malloc arenas are capped before the job threads start."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from monitor.clock import now_utc
from monitor.daemon import allocator
from monitor.daemon.scheduler import JOBS, Daemon
from monitor.storage.db import session_scope
from monitor.storage.models import JobRun
from tests.conftest import shipped_connectors
from tests.integration.alerts.conftest import write_alert_config


def test_malloc_arenas_are_capped_unless_the_operator_chose(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    assert allocator.limit_malloc_arenas() is True  # Linux with glibc, as on the servers
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert allocator.limit_malloc_arenas() is False


def test_the_daemon_caps_the_arenas_before_its_job_threads_start(
    engine: Engine, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from monitor.runtime import Runtime

    capped: list[bool] = []

    def cap(arenas: int = 2) -> bool:
        capped.append(True)
        return True

    monkeypatch.setattr(allocator, "limit_malloc_arenas", cap)
    config = write_alert_config(tmp_path, database_url, {}, extra=shipped_connectors())
    with session_scope(engine) as session:  # every job ran just now: nothing starts at once
        for job in JOBS:
            session.add(JobRun(job_id=job.id, started_at=now_utc(), outcome="ok"))
    runtime = Runtime.load(str(config))
    daemon = Daemon(runtime)
    daemon.start()
    try:
        daemon.pause()
        assert capped == [True]
    finally:
        daemon.shutdown(10)
        runtime.close()
