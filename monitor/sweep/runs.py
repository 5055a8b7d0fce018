"""The sweeps' own record (`sweep_run`): begun, finished, and read back by status and the
connector watch.

Apart from monitor/sweep/run.py so that a reader of sweeps (status, a reading worker of the
daemon) does not import the connectors and their HTTP client to read a table.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select, update
from sqlmodel import col

from monitor.clock import now_utc
from monitor.storage.db import session_scope
from monitor.storage.models import SweepRun


def begin_run(engine: Engine, scope: dict[str, Any]) -> int:
    """A new run, `running`; a run still `running` was cut short (the process died)."""
    with session_scope(engine) as session:
        session.execute(
            update(SweepRun).where(col(SweepRun.status) == "running").values(status="interrupted")
        )
        run = SweepRun(scope=scope)
        session.add(run)
        session.flush()
        assert run.id is not None
        return run.id


def finish_run(
    engine: Engine, run_id: int, summary: dict[str, Any], status: str = "completed"
) -> None:
    with session_scope(engine) as session:
        run = session.get(SweepRun, run_id)
        assert run is not None
        run.status = status
        run.finished_at = now_utc()
        run.summary = summary


def recent_runs(session: Any, count: int) -> list[SweepRun]:
    """The newest `count` sweeps, newest first (status)."""
    return list(session.scalars(select(SweepRun).order_by(col(SweepRun.id).desc()).limit(count)))


def finished_runs(session: Any, count: int) -> list[tuple[int, datetime, dict[str, Any]]]:
    """The newest `count` sweeps that have ended, newest first: id, start and summary (the
    connector watch)."""
    return [
        (run_id, started_at, summary)
        for run_id, started_at, summary in session.execute(
            select(col(SweepRun.id), col(SweepRun.started_at), col(SweepRun.summary))
            .where(col(SweepRun.status) != "running")
            .order_by(col(SweepRun.id).desc())
            .limit(count)
        )
    ]
