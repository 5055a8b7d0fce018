"""`sfm status`: what an operator checks first — measures, sweeps, sources, flags, outbox."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select
from sqlmodel import col

from monitor.alerts.queries import configuration_errors
from monitor.alerts.queries import counts as alert_counts
from monitor.clock import beijing_text, today_beijing
from monitor.config import LoadedConfig, mask_secrets
from monitor.daemon.leader import leader
from monitor.daemon.scheduler import next_runs
from monitor.flags.book import counts as flag_counts
from monitor.rules.policy import measures_in_force
from monitor.storage.db import session_scope
from monitor.storage.models import JobRun
from monitor.sweep.observations import source_health
from monitor.sweep.runs import recent_runs

# Jobs whose failure stops what sfm is for: no sweep, no rules; no dispatch, no alert.
ESSENTIAL_JOBS = ("registration-sweep", "credit-sweep", "safety-sweep", "dispatch")
UNHEALTHY_AFTER_FAILURES = 3


def failing_essentials(engine: Engine) -> list[str]:
    """Essential jobs that failed their last `UNHEALTHY_AFTER_FAILURES` runs: `/healthz`
    answers 503 while there is one."""
    with session_scope(engine) as session:
        return list(
            session.scalars(
                select(col(JobRun.job_id)).where(
                    col(JobRun.job_id).in_(ESSENTIAL_JOBS),
                    col(JobRun.failures_in_row) >= UNHEALTHY_AFTER_FAILURES,
                )
            )
        )


def healthy(engine: Engine) -> bool:
    """The database answers and no essential job has failed its last 3 runs."""
    try:
        return not failing_essentials(engine)
    except Exception:  # the database does not answer
        return False


def _failing(run: JobRun | None) -> dict[str, Any]:
    """A failing job is shown as failing: how many runs in a row, since when, and why."""
    if run is None or not run.failures_in_row:
        return {"failing_since": None, "failures_in_row": 0, "last_error": None}
    return {
        "failing_since": beijing_text(run.failing_since) if run.failing_since else None,
        "failures_in_row": run.failures_in_row,
        "last_error": mask_secrets(run.detail or ""),
    }


def status(engine: Engine, config: LoadedConfig) -> dict[str, Any]:
    choice = measures_in_force(config.settings.policy, today_beijing())
    upcoming = next_runs(config.settings.schedule)
    with session_scope(engine) as session:
        job_runs = {run.job_id: run for run in session.scalars(select(JobRun))}
        runs = recent_runs(session, 3)
        health = source_health(session)
        flags = flag_counts(session)
        return {
            "measures": {
                "key": choice.key,
                "title": choice.policy.title,
                "expires_on": str(choice.policy.expires_on or ""),
                "expired": choice.expired,
                "days_left": choice.days_left,
                "successor": choice.successor.title if choice.successor else None,
                "successor_from": str(choice.successor.effective_from)
                if choice.successor
                else None,
            },
            "leader": leader(engine),
            "jobs": [
                {
                    "id": job_id,
                    "next_run": beijing_text(moment) if moment else None,
                    "last_run": beijing_text(job_runs[job_id].started_at)
                    if job_id in job_runs
                    else None,
                    "last_outcome": job_runs[job_id].outcome if job_id in job_runs else None,
                    **_failing(job_runs.get(job_id)),
                }
                for job_id, moment in upcoming.items()
            ],
            "sweeps": [
                {
                    "id": run.id,
                    "status": run.status,
                    "started_at": beijing_text(run.started_at),
                    "finished_at": beijing_text(run.finished_at) if run.finished_at else None,
                    "factories": run.summary.get("factories"),
                    "connectors": {
                        name: {"found": c.get("found"), "errors": c.get("errors")}
                        for name, c in run.summary.get("connectors", {}).items()
                    },
                }
                for run in runs
            ],
            "connectors": [
                {
                    "name": h.connector,
                    "topic": h.topic,
                    "last_success_at": beijing_text(h.last_success_at)
                    if h.last_success_at
                    else None,
                    "last_error_at": beijing_text(h.last_error_at) if h.last_error_at else None,
                    "last_error": h.last_error_detail,
                    "consecutive_failures": h.consecutive_failures,
                }
                for h in health
            ],
            "flags": [{"state": s, "severity": v, "count": n} for s, v, n in flags],
            "outbox": alert_counts(session),
            "alert_configuration_errors": configuration_errors(session),
        }
