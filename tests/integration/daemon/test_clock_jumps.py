"""The wall clock set back or forward under a running daemon (issue 22): the schedule goes on
from the new time, what a jump forward skipped runs once, and no source is called down for
hours nobody lived."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import time_machine
from sqlalchemy import Engine, select
from sqlmodel import col

from monitor.clock import BEIJING, now_utc
from monitor.config import ScheduleSettings
from monitor.daemon import jobs
from monitor.daemon.scheduler import JOBS, Daemon, WallClockWatch, next_runs_after_jump
from monitor.runtime import Runtime
from monitor.storage.db import session_scope
from monitor.storage.models import Alert, ConnectorHealth, JobRun, SweepRun
from tests.conftest import shipped_connectors
from tests.integration.alerts.conftest import write_alert_config

# Friday 2026-12-04 10:30 in Beijing
FRIDAY = datetime(2026, 12, 4, 10, 30, tzinfo=BEIJING)


def test_a_jump_back_plans_every_job_from_the_new_time() -> None:
    planned = next_runs_after_jump(ScheduleSettings(), FRIDAY, FRIDAY - timedelta(hours=1))
    assert planned["connector-watch"] == datetime(2026, 12, 4, 10, 15, tzinfo=BEIJING)
    assert planned["dispatch"] == datetime(2026, 12, 4, 9, 30, tzinfo=BEIJING)  # due now
    assert planned["registration-sweep"] == datetime(2026, 12, 5, 2, 0, tzinfo=BEIJING)


def test_a_jump_forward_runs_what_it_skipped_once_and_the_rest_on_schedule() -> None:
    sunday = FRIDAY + timedelta(days=2)
    planned = next_runs_after_jump(ScheduleSettings(), FRIDAY, sunday)
    for job in ("registration-sweep", "credit-sweep", "safety-sweep", "connector-watch"):
        assert planned[job] == sunday, job  # fired twice or more in the gap: once, now
    # weekdays only (digest) and Mondays (overview): nothing fired Friday 10:30 → Sunday
    assert planned["digest"] == datetime(2026, 12, 7, 9, 0, tzinfo=BEIJING)
    assert planned["overview"] == datetime(2026, 12, 7, 9, 0, tzinfo=BEIJING)
    # a sweep the scheduler already ran after the jump is not run a second time
    again = next_runs_after_jump(
        ScheduleSettings(), FRIDAY, sunday, frozenset({"registration-sweep"})
    )
    assert again["registration-sweep"] == datetime(2026, 12, 7, 2, 0, tzinfo=BEIJING)


def test_the_watch_tells_a_jump_from_time_passing() -> None:
    with time_machine.travel(FRIDAY, tick=True) as traveller:
        watch = WallClockWatch(threshold_s=30)
        assert watch.jumped() is None
        traveller.shift(timedelta(seconds=5))  # slewed, not set
        assert watch.jumped() is None
        traveller.shift(timedelta(hours=-1))
        jump = watch.jumped()
        assert jump is not None
        expected, now, _looked = jump
        assert timedelta(minutes=59) < expected - now < timedelta(minutes=61)
        assert watch.jumped() is None  # once


def _runtime(engine: Engine, database_url: str, tmp_path: Path) -> Runtime:
    config = write_alert_config(tmp_path, database_url, {}, extra=shipped_connectors())
    with session_scope(engine) as session:  # every job ran just now: nothing to catch up
        for job in JOBS:
            session.add(JobRun(job_id=job.id, started_at=now_utc(), outcome="ok"))
    return Runtime.load(str(config))


def test_a_running_daemon_keeps_its_schedule_across_jumps_back_and_forward(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    with time_machine.travel(FRIDAY, tick=True) as traveller:
        runtime = _runtime(engine, database_url, tmp_path)
        daemon = Daemon(runtime)
        daemon.start()
        try:
            daemon.pause()  # the plan is what is tested, not the jobs

            def next_run(job: str) -> datetime:
                return daemon.scheduler.get_job(job).next_run_time

            assert next_run("connector-watch") == datetime(2026, 12, 4, 11, 15, tzinfo=BEIJING)
            traveller.shift(timedelta(hours=-1))  # 09:30
            # APScheduler alone would wait for 11:15: an hour and three quarters
            assert next_run("connector-watch") == datetime(2026, 12, 4, 11, 15, tzinfo=BEIJING)
            assert daemon.watch_clock()
            assert next_run("connector-watch") == datetime(2026, 12, 4, 10, 15, tzinfo=BEIJING)
            assert next_run("dispatch") <= datetime(2026, 12, 4, 9, 31, tzinfo=BEIJING)
            assert not daemon.watch_clock()  # once per jump

            traveller.shift(timedelta(days=2))  # Sunday 09:30
            assert daemon.watch_clock()
            sunday = datetime.now(BEIJING)
            assert next_run("registration-sweep") <= sunday  # due now, once
            assert next_run("digest") == datetime(2026, 12, 7, 9, 0, tzinfo=BEIJING)
        finally:
            daemon.shutdown(10)


def test_a_jump_forward_raises_no_source_down_note_until_a_sweep_asks(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    with time_machine.travel(FRIDAY, tick=False) as traveller:
        runtime = _runtime(engine, database_url, tmp_path)
        name = next(c.name for c in runtime.config.settings.connectors if c.enabled)
        limit = next(c.stale_after_hours for c in runtime.config.settings.connectors if c.enabled)
        with session_scope(engine) as session:
            session.add(
                ConnectorHealth(connector=name, topic="registration", last_success_at=now_utc())
            )
        traveller.shift(timedelta(hours=limit + 48))
        assert jobs.watch_connectors(runtime) == []  # nobody asked it since: not "down"
        with session_scope(engine) as session:
            assert (
                session.scalars(select(col(Alert.id)).where(col(Alert.kind) == "ops")).all() == []
            )
            # a sweep asked it, and it did not answer: now its data is stale
            session.add(
                SweepRun(
                    started_at=now_utc(),
                    status="completed",
                    summary={"connectors": {name: {"errors": 1}}},
                )
            )
        assert jobs.watch_connectors(runtime) == [f"{name}: down"]


def test_a_clock_set_back_then_forward_raises_no_source_down_note_while_sources_answer(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    """Sweeps started before a jump back carry later times than the answers after it: the
    sweeps are taken in the order they ran, so the latest, answered, is what counts."""
    with time_machine.travel(FRIDAY, tick=False) as traveller:
        runtime = _runtime(engine, database_url, tmp_path)
        name = next(c.name for c in runtime.config.settings.connectors if c.enabled)
        limit = next(c.stale_after_hours for c in runtime.config.settings.connectors if c.enabled)
        answered = {"connectors": {name: {"found": 34, "errors": 0}}}
        with session_scope(engine) as session:
            session.add(SweepRun(started_at=now_utc(), status="completed", summary=answered))
        traveller.shift(timedelta(hours=-1))  # set back: the next sweep starts "earlier"
        with session_scope(engine) as session:
            session.add(SweepRun(started_at=now_utc(), status="completed", summary=answered))
            session.add(
                ConnectorHealth(connector=name, topic="registration", last_success_at=now_utc())
            )
        traveller.shift(timedelta(hours=limit + 1))  # then set far forward
        assert jobs.watch_connectors(runtime) == []
        with session_scope(engine) as session:
            assert (
                session.scalars(select(col(Alert.id)).where(col(Alert.kind) == "ops")).all() == []
            )
