"""The daemon's own health: `/healthz` and Prometheus `/metrics` on a loopback port.

Counters and job timings are kept in this process; flags and alerts by state
are read from the database at each scrape, so they are right whoever changed
them (a CLI decision, another sweep).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func, select, text
from sqlmodel import col

from monitor.storage.db import session_scope
from monitor.storage.models import Alert, Flag

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
                for state, severity, count in session.execute(
                    select(col(Flag.state), col(Flag.severity), func.count()).group_by(
                        col(Flag.state), col(Flag.severity)
                    )
                ):
                    flags.add_metric([state, severity], count)
                for status, count in session.execute(
                    select(col(Alert.status), func.count()).group_by(col(Alert.status))
                ):
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


def serve_http(
    host: str, port: int, metrics: Metrics, healthy: Callable[[], bool]
) -> ThreadingHTTPServer:
    """Serve /healthz and /metrics on a thread; the caller shuts the server down."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/healthz":
                ok = healthy()
                self._answer(200 if ok else 503, b"ok\n" if ok else b"unhealthy\n", "text/plain")
            elif self.path == "/metrics":
                self._answer(200, metrics.render(), "text/plain; version=0.0.4")
            else:
                self._answer(404, b"not found\n", "text/plain")

        def _answer(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # scrapes every few seconds would drown the log

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="sfm-http", daemon=True).start()
    return server
