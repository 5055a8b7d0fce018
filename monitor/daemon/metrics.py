"""The daemon's own health: `/healthz` and Prometheus `/metrics` on a loopback port.

Counters and job timings are kept in this process; flags and alerts by state
are read from the database at each scrape, so they are right whoever changed
them (a CLI decision, another sweep).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine, text

from monitor.alerts.queries import counts as alert_counts
from monitor.flags.book import counts as flag_counts
from monitor.storage.db import session_scope

log = structlog.get_logger("sfm.metrics")


class _StoredStates(Collector):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily]:
        flags = GaugeMetricFamily(
            "sfm_flags", "Flags by state and severity", labels=["state", "severity"]
        )
        alerts = GaugeMetricFamily("sfm_alerts", "Alerts by status", labels=["status"])
        try:
            with session_scope(self.engine) as session:
                for state, severity, count in flag_counts(session):
                    flags.add_metric([state, severity], count)
                for status, count in alert_counts(session).items():
                    alerts.add_metric([status], count)
        except Exception as exc:  # a scrape while the database is down shows the rest
            log.warning("metrics could not read the database", error=str(exc))
        yield flags
        yield alerts


class Metrics:
    def __init__(self, engine: Engine) -> None:
        self.registry = CollectorRegistry()
        self.sweeps = Counter(
            "sfm_sweeps", "Sweeps by how they ended", ["status"], registry=self.registry
        )
        self.answers = Counter(
            "sfm_answers",
            "Connector answers by outcome",
            ["connector", "outcome"],
            registry=self.registry,
        )
        self.job_seconds = Histogram(
            "sfm_job_duration_seconds",
            "How long each job ran",
            ["job"],
            buckets=(0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600),
            registry=self.registry,
        )
        self.job_failures = Counter(
            "sfm_job_failures", "Job runs that raised", ["job"], registry=self.registry
        )
        self.last_success = Gauge(
            "sfm_job_last_success_timestamp_seconds",
            "When each job last succeeded (Unix time)",
            ["job"],
            registry=self.registry,
        )
        self.registry.register(_StoredStates(engine))

    def job_finished(self, job: str, duration: float, *, ok: bool, result: Any = None) -> None:
        self.job_seconds.labels(job).observe(duration)
        if not ok:
            self.job_failures.labels(job).inc()
            return
        self.last_success.labels(job).set_to_current_time()
        summary = getattr(result, "summary", None)  # a sweep's result
        if summary is not None:
            interrupted = summary.evaluation is None
            self.sweeps.labels("interrupted" if interrupted else "completed").inc()
            for name, tally in summary.connectors.items():
                for outcome in ("found", "not_found", "errors"):
                    self.answers.labels(name, outcome).inc(getattr(tally, outcome))

    def render(self) -> bytes:
        return generate_latest(self.registry)


def database_answers(engine: Engine) -> bool:
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception:
        return False
    return True
