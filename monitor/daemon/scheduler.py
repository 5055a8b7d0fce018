"""The daemon (`sfm run`): a table of jobs on APScheduler 3, Beijing time, one leader.

Each job calls the service function its CLI command calls (monitor/daemon/jobs.py);
the scheduler holds no business logic. Sweeps and the rules run one at a time
in their own executor; the calendar runs beside them; delivery (the dispatch job)
has an executor thread of its own and is the only job that talks to receivers:
the others write to the outbox and return, so a slow mail server never holds up
a sweep, and a long sweep never holds up a revocation alert (writing one wakes
the dispatch job). Every run is recorded in `job_run`:
`sfm status` shows it, and start-up makes up a run missed while the daemon was
down, once, if it is within `[schedule] misfire_grace_s`.
"""

from __future__ import annotations

import signal
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import structlog
from apscheduler.triggers.base import BaseTrigger
from sqlalchemy import select

from monitor.clock import BEIJING, now_utc
from monitor.config import ScheduleSettings, cron_trigger, mask_secrets
from monitor.daemon import jobs
from monitor.errors import DeliveryIncomplete, LeadershipLost, SfmError
from monitor.i18n import Message
from monitor.storage.db import session_scope
from monitor.storage.models import JobRun

if TYPE_CHECKING:
    from monitor.alerts.record import DispatchReport
    from monitor.daemon.jobs import Runtime
    from monitor.daemon.metrics import Metrics

log = structlog.get_logger("sfm.daemon")

JobCall = Callable[["Runtime", threading.Event], object]


@dataclass(frozen=True)
class Job:
    id: str
    schedule: str  # the key of its cron expression in [schedule]
    call: JobCall
    # "pipeline": sweeps and rules, one at a time; "delivery": dispatch, on its own thread;
    # "default": the rest
    executor: str = "default"

    @property
    def pipeline(self) -> bool:
        return self.executor == "pipeline"


DISPATCH = "dispatch"


def _sweep(topic: str) -> JobCall:
    def sweep(runtime: Runtime, stop: threading.Event) -> jobs.SweepResult:
        result = jobs.sweep(runtime, topic=topic, stop=stop)
        result.raise_if_incomplete()  # recorded as the job's failure, with what failed
        return result

    return sweep


def _dispatch(runtime: Runtime, stop: threading.Event) -> DispatchReport:
    report = jobs.dispatch(runtime, stop)
    stuck = report.retrying + report.failed + len(report.config_errors)
    if stuck:  # the dispatch job's failure, with the count; the alerts are listed and retried
        raise DeliveryIncomplete(Message("sweep.alerts_stuck", count=stuck))
    return report


# In pipeline order: `sfm run --once` runs the due ones in this order, dispatch last so
# that it sends what the others wrote.
JOBS: tuple[Job, ...] = (
    Job("registration-sweep", "registration_sweep", _sweep("registration"), "pipeline"),
    Job("credit-sweep", "credit_sweep", _sweep("credit"), "pipeline"),
    Job("safety-sweep", "safety_sweep", _sweep("safety"), "pipeline"),
    Job("connector-watch", "connector_watch", lambda runtime, _: jobs.connector_watch(runtime)),
    Job("digest", "digest", lambda runtime, _: jobs.digest(runtime)),
    Job("remind", "remind", lambda runtime, _: jobs.remind(runtime)),
    Job("overview", "overview", lambda runtime, _: jobs.overview(runtime)),
    Job("filing-reminder", "filing_reminder", lambda runtime, _: jobs.filing_reminders(runtime)),
    Job("expiry-warning", "expiry_warning", lambda runtime, _: jobs.expiry_warning(runtime)),
    Job("expired-note", "expired_note", lambda runtime, _: jobs.expired_note(runtime)),
    Job(DISPATCH, "dispatch", _dispatch, "delivery"),
)
JOBS_BY_ID = {job.id: job for job in JOBS}


def trigger_for(job: Job, schedule: ScheduleSettings) -> Any:
    return cron_trigger(getattr(schedule, job.schedule))


# After the wall clock jumps forward (or the host sleeps), APScheduler lists every run the gap
# skipped before it coalesces them into one: 176,400 for an every-second job over two days,
# decades' worth after a dead RTC battery, all the while holding its job store's lock (no
# job starts, a dispatch wake-up blocks). So the scheduler's triggers step straight to the
# last minute (hour, day, ...) before `now` that holds a run: the runs in between would be
# coalesced away in any case.
CATCH_UP_WINDOWS = (
    timedelta(minutes=1),
    timedelta(hours=1),
    timedelta(days=1),
    timedelta(days=32),
    timedelta(days=366),
)


def _recent_fire(trigger: Any, start: datetime, now: datetime) -> datetime | None:
    """The first fire in the narrowest of CATCH_UP_WINDOWS before `now`, after `start`, that
    holds one; None if none does."""
    for window in CATCH_UP_WINDOWS:
        if now - window > start:
            recent: datetime | None = trigger.get_next_fire_time(None, now - window)
            if recent is not None and recent <= now:
                return recent
    return None


class CoalescingTrigger(BaseTrigger):
    """A cron trigger that never lists more than a window's worth of runs missed in a gap."""

    def __init__(self, cron: Any) -> None:
        self.cron = cron

    def get_next_fire_time(self, previous_fire_time: Any, now: datetime) -> datetime | None:
        following: datetime | None = self.cron.get_next_fire_time(previous_fire_time, now)
        if previous_fire_time is None or following is None:
            return following
        return _recent_fire(self.cron, following, now) or following

    def __str__(self) -> str:
        return str(self.cron)


def latest_fire(
    trigger: Any, after: datetime, now: datetime, limit: int = 10_000
) -> datetime | None:
    """The last time `trigger` fired in (after, now], or None if it did not."""
    start = after + timedelta(microseconds=1)
    first = trigger.get_next_fire_time(None, start)
    if first is None or first > now:
        return None
    # counted from the narrowest window before `now` that holds a fire: a few steps however
    # long the gap (an every-second job over a two-day jump is 172,800 of them)
    first = _recent_fire(trigger, start, now) or first
    latest = None
    moment = first
    for _ in range(limit):
        if moment is None or moment > now:
            return latest
        latest = moment
        moment = trigger.get_next_fire_time(moment, moment + timedelta(microseconds=1))
    return now  # fires more often than we care to count: it is due


def next_runs(schedule: ScheduleSettings, now: datetime | None = None) -> dict[str, datetime]:
    now = (now or now_utc()).astimezone(BEIJING)
    return {job.id: trigger_for(job, schedule).get_next_fire_time(None, now) for job in JOBS}


def last_runs(runtime: Runtime) -> dict[str, JobRun]:
    with session_scope(runtime.engine) as session:
        return {run.job_id: run for run in session.scalars(select(JobRun))}


def due_jobs(
    schedule: ScheduleSettings,
    last: dict[str, JobRun],
    now: datetime,
    *,
    grace: timedelta | None,
) -> list[Job]:
    """Jobs never run, or whose schedule fired since their last run (within `grace`, if given),
    in pipeline order."""
    due = []
    for job in JOBS:
        previous = last.get(job.id)
        if previous is None:
            due.append(job)
            continue
        fired = latest_fire(trigger_for(job, schedule), previous.started_at, now)
        if fired is not None and (grace is None or now - fired <= grace):
            due.append(job)
    return due


# The wall clock moved this much more (or less) than the monotonic one between two looks: it
# was set, not slewed (NTP slews well under this between two ticks of a few seconds).
CLOCK_JUMP_S = 30.0


class WallClockWatch:
    """Notices the wall clock being set: compared with the monotonic clock at each look."""

    def __init__(self, threshold_s: float = CLOCK_JUMP_S) -> None:
        self.threshold_s = threshold_s
        self._wall, self._mono = time.time(), time.monotonic()

    def jumped(self) -> tuple[datetime, datetime, datetime] | None:
        """If it jumped since the last look: when the wall clock should say it is, what it
        says, and (on the new clock) the last look, before which the jump cannot be."""
        wall, mono = time.time(), time.monotonic()
        lived = mono - self._mono
        expected = self._wall + lived
        self._wall, self._mono = wall, mono
        if abs(wall - expected) < self.threshold_s:
            return None
        return (
            datetime.fromtimestamp(expected, UTC),
            datetime.fromtimestamp(wall, UTC),
            datetime.fromtimestamp(wall - lived, UTC),
        )


def next_runs_after_jump(
    schedule: ScheduleSettings,
    expected: datetime,
    now: datetime,
    ran_since: frozenset[str] = frozenset(),
) -> dict[str, datetime]:
    """Each job's next run once the wall clock jumped from `expected` to `now`: from the new
    time, never from the old; after a jump forward, now (once, however many runs the jump
    skipped) for a job whose schedule fired in between, unless it ran since the jump
    (`ran_since`: the scheduler's own wake-up may have been first)."""
    planned = {}
    for job in JOBS:
        trigger = trigger_for(job, schedule)
        if (
            now > expected
            and job.id not in ran_since
            and latest_fire(trigger, expected, now) is not None
        ):
            planned[job.id] = now.astimezone(BEIJING)
        else:
            planned[job.id] = trigger.get_next_fire_time(None, now.astimezone(BEIJING))
    return planned


class Daemon:
    def __init__(
        self,
        runtime: Runtime,
        metrics: Metrics | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self.runtime = runtime
        self.metrics = metrics
        self.stop = stop or threading.Event()
        self.scheduler: Any = None
        self.failures: list[str] = []  # of `run_due_once`: job and why, a line each
        # a dispatch run is queued behind the running one (or about to start): a wake-up
        # needs no second one, since that run looks at the outbox after it was written
        self._dispatch_queued = False
        self._wake_lock = threading.Lock()
        self.lost_lead = threading.Event()  # set by the leader's fence, or by a job it stopped
        self.paused = threading.Event()  # jobs paused while the database is away
        self.clock = WallClockWatch()

    # ------------------------------------------------------------ one job

    def run_job(self, job: Job) -> bool:
        """Run `job` now, record how it went; a failure is logged, never raised."""
        if self.stop.is_set():
            return False  # queued before the stop: it does not start
        if job.id == DISPATCH:
            with self._wake_lock:
                self._dispatch_queued = False
        try:
            return self._run(job)
        finally:
            if job.id != DISPATCH:
                self.wake_dispatch()  # whatever the job wrote to the outbox goes out now

    def wake_dispatch(self) -> None:
        """Run the dispatch job now (after the run under way, if one is): called when alerts
        due now were written. Outside the running daemon (`--once`), nothing to do."""
        if self.scheduler is None or not self.running():
            return
        with self._wake_lock:
            if self._dispatch_queued:
                return
            self._dispatch_queued = True
        try:
            self.scheduler.modify_job(DISPATCH, next_run_time=datetime.now(BEIJING))
        except Exception:  # the job's own schedule still runs it
            with self._wake_lock:
                self._dispatch_queued = False
            log.exception("could not wake the dispatch job")

    def _run(self, job: Job) -> bool:
        try:
            return self._run_recorded(job)
        except LeadershipLost:
            # the fence refused a write: this process no longer leads, so nothing of it is
            # recorded (not even the failure) and every job stops
            log.error("job stopped: this daemon lost the lead", job=job.id)
            self.lost_lead.set()
            self.stop.set()
            return False

    def _run_recorded(self, job: Job) -> bool:
        started, clock = now_utc(), time.monotonic()
        self._record(job.id, started=started, outcome="running")
        with structlog.contextvars.bound_contextvars(job=job.id):
            log.info("job started")
            try:
                result = job.call(self.runtime, self.stop)
            except LeadershipLost:
                raise
            except Exception as exc:
                if self.lost_lead.is_set():  # a failure the fence caused, wrapped by the job
                    raise LeadershipLost(Message("daemon.lost_lock")) from exc
                duration = time.monotonic() - clock
                detail = mask_secrets("".join(traceback.format_exception_only(exc)).strip())
                # the reason on stdout/journald too, where the traceback is not written
                log.exception("job failed", duration_s=round(duration, 3), error=detail)
                self.failures.append(
                    f"{job.id}: {exc}" if isinstance(exc, SfmError) else f"{job.id}: {detail}"
                )
                self._record(
                    job.id, started=started, outcome="failed", duration=duration, detail=detail
                )
                if self.metrics:
                    self.metrics.job_finished(job.id, duration, ok=False)
                return False
            duration = time.monotonic() - clock
            log.info("job finished", duration_s=round(duration, 3))
            self._record(job.id, started=started, outcome="ok", duration=duration)
            if self.metrics:
                self.metrics.job_finished(job.id, duration, ok=True, result=result)
            return True

    def _record(
        self,
        job_id: str,
        *,
        started: datetime,
        outcome: str,
        duration: float | None = None,
        detail: str | None = None,
    ) -> None:
        with session_scope(self.runtime.engine) as session:
            run = session.get(JobRun, job_id) or JobRun(
                job_id=job_id, started_at=started, outcome=outcome
            )
            run.started_at, run.outcome, run.duration_s = started, outcome, duration
            if outcome != "running":  # a failing job's error stays shown while it retries
                run.detail = detail
            if outcome != "running":
                run.finished_at = now_utc()
            if outcome == "ok":
                run.last_success_at = run.finished_at
                run.failures_in_row, run.failing_since = 0, None
            elif outcome == "failed":
                run.failures_in_row = (run.failures_in_row or 0) + 1
                run.failing_since = run.failing_since or started
            session.add(run)

    # ------------------------------------------------------------ --once

    def run_due_once(self, now: datetime | None = None) -> list[str]:
        """Run every due job in pipeline order; what failed, a line each (job: why)."""
        now = now or now_utc()
        schedule = self.runtime.config.settings.schedule
        due = due_jobs(schedule, last_runs(self.runtime), now, grace=None)
        log.info("running due jobs once", jobs=[job.id for job in due])
        self.failures = []
        for job in due:
            if not self.stop.is_set():
                self.run_job(job)
        return self.failures

    # ------------------------------------------------------------ the daemon proper

    def start(self, now: datetime | None = None) -> None:
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.schedulers.background import BackgroundScheduler

        from monitor.daemon.allocator import limit_malloc_arenas

        limit_malloc_arenas()  # before the job threads start: each would take an arena
        now = now or now_utc()
        schedule = self.runtime.config.settings.schedule
        grace = timedelta(seconds=schedule.misfire_grace_s)
        catch_up = {job.id for job in due_jobs(schedule, last_runs(self.runtime), now, grace=grace)}
        self.scheduler = BackgroundScheduler(
            timezone=BEIJING,
            executors={
                "default": ThreadPoolExecutor(4),
                "pipeline": ThreadPoolExecutor(1),
                "delivery": ThreadPoolExecutor(1),
            },
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": schedule.misfire_grace_s,
            },
        )
        for job in JOBS:
            extra = {"next_run_time": now} if job.id in catch_up else {}
            self.scheduler.add_job(
                self.run_job,
                CoalescingTrigger(trigger_for(job, schedule)),
                args=[job],
                id=job.id,
                name=job.id,
                executor=job.executor,
                replace_existing=True,
                # a dispatch run woken while one runs waits for it on the delivery thread
                max_instances=2 if job.id == DISPATCH else 1,
                **extra,
            )
        self.runtime.alerting.outbox.on_due = self.wake_dispatch
        self.scheduler.start()
        self.clock = WallClockWatch()
        log.info("daemon started", catch_up=sorted(catch_up))

    def watch_clock(self) -> bool:
        """Called at each tick: if the wall clock was set since the last, every job's next run
        is planned again from the new time (APScheduler alone would wait for the old one).
        True if it jumped."""
        jump = self.clock.jumped()
        if jump is None or self.scheduler is None:
            return False
        expected, now, looked = jump
        try:  # started on the new clock, after the jump: the scheduler's own wake-up ran them
            ran = frozenset(
                job_id
                for job_id, run in last_runs(self.runtime).items()
                if looked <= run.started_at <= now
            )
        except Exception:  # the database away: the jump is handled all the same
            ran = frozenset()
        planned = next_runs_after_jump(self.runtime.config.settings.schedule, expected, now, ran)
        log.warning(
            "the wall clock jumped; every job's next run is planned from the new time",
            jump_s=round((now - expected).total_seconds()),
            due_now=sorted(job for job, at in planned.items() if at <= now),
        )
        for job_id, at in planned.items():
            if at is not None:
                self.scheduler.modify_job(job_id, next_run_time=at)
        return True

    def pause(self) -> None:
        """No job starts until `resume` (the database is away); the running ones go on."""
        self.paused.set()
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.pause()

    def resume(self) -> None:
        if self.scheduler is not None and self.scheduler.running and not self.stop.is_set():
            self.scheduler.resume()
        self.paused.clear()

    def running(self) -> bool:
        return bool(
            self.scheduler is not None and self.scheduler.running and not self.stop.is_set()
        )

    def shutdown(self, timeout_s: float) -> bool:
        """No new job starts; the running ones finish their batch. False if they overran."""
        self.stop.set()
        if self.scheduler is None:
            return True
        self.scheduler.pause()
        done = threading.Thread(target=self.scheduler.shutdown, kwargs={"wait": True}, daemon=True)
        done.start()
        done.join(timeout_s)
        return not done.is_alive()


def stop_on_signals(
    stop: threading.Event, signals: Iterable[int] = (signal.SIGTERM, signal.SIGINT)
) -> None:
    def handler(signum: int, _frame: Any) -> None:
        log.info("stop requested", signal=signal.Signals(signum).name)
        stop.set()

    for signum in signals:
        signal.signal(signum, handler)
