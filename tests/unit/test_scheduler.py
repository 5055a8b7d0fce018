"""The daemon's job table and what start-up makes up, on a fixed clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.clock import BEIJING
from monitor.config import ScheduleSettings, Settings, cron_trigger
from monitor.daemon.scheduler import JOBS, CoalescingTrigger, due_jobs, latest_fire, next_runs
from monitor.storage.models import JobRun

# 2026-11-25 10:00 in Beijing
NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)


def _ran(job_id: str, at: datetime) -> JobRun:
    return JobRun(job_id=job_id, started_at=at, outcome="ok")


def test_every_job_has_a_stable_id_and_a_schedule_in_config() -> None:
    ids = [job.id for job in JOBS]
    assert len(ids) == len(set(ids))
    schedule = ScheduleSettings()
    for job in JOBS:
        assert getattr(schedule, job.schedule)
    assert [job.id for job in JOBS if job.pipeline] == [
        "registration-sweep",
        "credit-sweep",
        "safety-sweep",
    ]


def test_cron_runs_in_beijing_time_and_takes_seconds_first_when_given_six_fields() -> None:
    daily_two_am = cron_trigger("0 2 * * *")
    fire = daily_two_am.get_next_fire_time(None, NOW)
    assert fire.astimezone(BEIJING).hour == 2 and fire.astimezone(UTC).hour == 18
    every_ten_seconds = cron_trigger("*/10 * * * * *")
    first = every_ten_seconds.get_next_fire_time(None, NOW + timedelta(seconds=1))
    assert first - NOW == timedelta(seconds=10)
    with pytest.raises(ValueError, match="5 fields"):
        cron_trigger("0 2 * *")


def test_a_bad_cron_expression_is_a_config_error_naming_the_key() -> None:
    with pytest.raises(ValueError, match="digest"):
        Settings.model_validate({"schedule": {"digest": "at nine"}})


def test_latest_fire_finds_the_last_run_a_schedule_owed() -> None:
    daily = cron_trigger("0 3 * * *")  # 03:00 Beijing = 19:00 UTC the day before
    two_days_ago = NOW - timedelta(days=2)
    assert latest_fire(daily, two_days_ago, NOW) == datetime(2026, 11, 24, 19, 0, tzinfo=UTC)
    assert latest_fire(daily, NOW - timedelta(hours=1), NOW) is None


class Counted:
    """A trigger that counts how often it is asked: the cost of a look over a long gap."""

    def __init__(self, expression: str) -> None:
        self.cron = cron_trigger(expression)
        self.asked = 0

    def get_next_fire_time(self, previous: datetime | None, now: datetime) -> datetime | None:
        self.asked += 1
        return self.cron.get_next_fire_time(previous, now)  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("expression", "gap"),
    [
        ("* * * * * *", timedelta(days=2)),  # a test schedule, the clock set two days on
        ("* * * * *", timedelta(days=365 * 30)),  # a dead RTC battery: from 1996 to now
        ("0 9 * * 1", timedelta(days=365 * 30)),
    ],
)
def test_a_long_gap_is_looked_over_in_a_few_steps_and_the_latest_fire_is_exact(
    expression: str, gap: timedelta
) -> None:
    trigger = Counted(expression)
    latest = latest_fire(trigger, NOW - gap, NOW)
    assert latest is not None and latest <= NOW
    assert trigger.cron.get_next_fire_time(latest, latest + timedelta(microseconds=1)) > NOW
    assert trigger.asked <= 100
    # APScheduler lists the runs a gap skipped (job._get_run_times) through its trigger
    # before it coalesces them into one: they must be few, the last one the latest owed
    coalescing = CoalescingTrigger(trigger)
    trigger.asked = 0
    run_times, moment = [], trigger.cron.get_next_fire_time(None, NOW - gap)
    while moment is not None and moment <= NOW:
        run_times.append(moment)
        moment = coalescing.get_next_fire_time(moment, NOW)
    assert run_times[-1] == latest and len(run_times) <= 62 and trigger.asked <= 100


def test_the_coalescing_trigger_is_the_cron_trigger_when_no_run_was_missed() -> None:
    every_second = CoalescingTrigger(cron_trigger("* * * * * *"))
    assert every_second.get_next_fire_time(NOW, NOW) == NOW + timedelta(seconds=1)
    late = NOW + timedelta(seconds=20)  # the scheduler woke late: every run is listed
    assert every_second.get_next_fire_time(NOW, late) == NOW + timedelta(seconds=1)
    daily = CoalescingTrigger(cron_trigger("0 3 * * *"))
    assert daily.get_next_fire_time(None, NOW) == datetime(2026, 11, 25, 19, 0, tzinfo=UTC)
    assert "cron[" in str(daily)


def test_start_up_makes_up_a_missed_run_within_grace_only() -> None:
    schedule = ScheduleSettings(digest="0 3 * * *")
    last = {job.id: _ran(job.id, NOW) for job in JOBS}  # all just ran
    last["digest"] = _ran("digest", NOW - timedelta(days=2))  # missed today's 03:00
    within = due_jobs(schedule, last, NOW, grace=timedelta(hours=8))
    assert [job.id for job in within] == ["digest"]
    beyond = due_jobs(schedule, last, NOW, grace=timedelta(hours=6))  # 03:00 was 7 h ago
    assert beyond == []
    never = dict(last)
    del never["overview"]
    assert "overview" in [job.id for job in due_jobs(schedule, never, NOW, grace=None)]


def test_once_runs_every_due_job_in_pipeline_order() -> None:
    due = due_jobs(ScheduleSettings(), {}, NOW, grace=None)
    assert [job.id for job in due] == [job.id for job in JOBS]
    assert [job.id for job in due][:3] == ["registration-sweep", "credit-sweep", "safety-sweep"]


def test_next_runs_are_in_the_future_for_every_job() -> None:
    upcoming = next_runs(ScheduleSettings(), NOW)
    assert set(upcoming) == {job.id for job in JOBS}
    assert all(moment >= NOW for moment in upcoming.values())
    assert upcoming["overview"].astimezone(BEIJING).weekday() == 0  # Mondays


def test_weekday_numbers_mean_what_they_mean_in_crontab() -> None:
    # 2026-11-25 is a Wednesday; crontab's 1 is Monday, 0 and 7 are Sunday
    monday = cron_trigger("0 9 * * 1").get_next_fire_time(None, NOW).astimezone(BEIJING)
    assert monday.weekday() == 0 and monday.day == 30
    for sunday in ("0 9 * * 0", "0 9 * * 7", "0 9 * * sun"):
        fire = cron_trigger(sunday).get_next_fire_time(None, NOW).astimezone(BEIJING)
        assert fire.weekday() == 6, sunday
    weekdays = cron_trigger("0 9 * * 1-5")
    moment, seen = NOW, set()
    for _ in range(7):
        moment = weekdays.get_next_fire_time(None, moment + timedelta(seconds=1))
        seen.add(moment.astimezone(BEIJING).weekday())
    assert seen == {0, 1, 2, 3, 4}
    every_other = cron_trigger("0 9 * * */2")  # a step is not a weekday
    assert every_other.get_next_fire_time(None, NOW) is not None
