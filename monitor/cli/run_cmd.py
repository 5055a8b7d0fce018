"""`sfm run`: the daemon in the foreground (SIGTERM or Ctrl-C: finish the batch, exit 0)."""

from __future__ import annotations

import sys
import threading
import time
from typing import TYPE_CHECKING, Annotated, Any

import typer

from monitor.cli.common import state
from monitor.errors import JobsFailed, LeadershipLost
from monitor.i18n import Message

if TYPE_CHECKING:
    from monitor.api.server import ApiServer
    from monitor.daemon.leader import LeaderLock
    from monitor.daemon.metrics import Metrics
    from monitor.daemon.scheduler import Daemon
    from monitor.runtime import Runtime


def run(
    ctx: typer.Context,
    once: Annotated[
        bool, typer.Option("--once", help="Run every job that is due, in pipeline order, and exit.")
    ] = False,
    standby: Annotated[
        bool, typer.Option("--standby", help="If another daemon leads, wait and take over.")
    ] = False,
) -> None:
    """The daemon: sweeps, alerts, digests, reminders and the regulatory calendar on schedule."""
    import structlog

    from monitor.daemon.leader import Deposed, LeaderLock, leader, refusal
    from monitor.daemon.metrics import Metrics
    from monitor.daemon.preflight import require_startable
    from monitor.daemon.scheduler import Daemon, stop_on_signals
    from monitor.logs import configure_logging
    from monitor.runtime import Runtime

    runtime = Runtime(state(ctx).config)
    ctx.call_on_close(runtime.close)
    settings = runtime.config.settings
    # journald and docker read stdout; JSON lines there unless it is a terminal
    configure_logging(settings.logging, stream=sys.stdout)
    log = structlog.get_logger("sfm.daemon")
    # before the lead: a standby with a bad config must not take over only to fail
    require_startable(runtime.config)
    engine = runtime.engine
    stop = threading.Event()
    stop_on_signals(stop)

    lock = LeaderLock(engine)
    if not lock.try_acquire():
        if not standby:
            raise refusal(engine)
        log.info("standing by", leader=leader(engine))
        if not stand_by(lock, stop, settings.daemon.standby_poll_s):
            return
        log.info("taking over as leader")
    server = None
    try:
        metrics = Metrics(engine)
        daemon = Daemon(runtime, metrics, stop)
        fence = lock.fence
        if fence is not None:  # a refused write stops every job at once

            def deposed() -> None:
                daemon.lost_lead.set()
                stop.set()

            fence.on_deposed(deposed)
        if once:
            failed = daemon.run_due_once()
            if daemon.lost_lead.is_set():
                raise Deposed(fence.reason if fence else Message("daemon.lost_lock"))
            if failed:
                raise JobsFailed(
                    Message("daemon.jobs_failed", count=len(failed), what="; ".join(failed))
                )
            return
        server = serve_api(runtime, daemon, metrics, fence)
        daemon.start()
        lost = keep_the_lead(lock, daemon, stop, settings.daemon.db_outage_s)
        if not daemon.shutdown(settings.daemon.stop_timeout_s):
            log.error("a job did not finish in time; exiting anyway")
        log.info("daemon stopped")
        if daemon.lost_lead.is_set():
            raise Deposed(fence.reason if fence else Message("daemon.lost_lock"))
        if lost is not None:
            raise LeadershipLost(lost)
    finally:
        if server is not None:
            server.close()
        stop.set()  # whatever ended the lead, a staff sweep stops too, before the lead goes
        runtime.sweeps.close(settings.daemon.stop_timeout_s)
        lock.release()


def stand_by(lock: LeaderLock, stop: threading.Event, poll_s: float) -> bool:
    """Wait for the lead; True once this process has it, False if stopped first. A database
    that does not answer is waited for, more patiently each time (up to a minute)."""
    import structlog
    from sqlalchemy.exc import DBAPIError

    log = structlog.get_logger("sfm.daemon")
    delay = poll_s
    while True:
        try:
            if lock.try_acquire():
                return True
            delay = poll_s
        except DBAPIError as exc:
            delay = min(delay * 2, max(poll_s, 60.0))
            log.warning(
                "the database does not answer; standing by",
                retry_in_s=delay,
                error=type(exc.orig).__name__ if exc.orig else type(exc).__name__,
            )
        if stop.wait(delay):
            return False


def keep_the_lead(
    lock: LeaderLock, daemon: Daemon, stop: threading.Event, outage_s: float
) -> Message | None:
    """Watch the lead until stopped. A database that stops answering pauses the jobs for up
    to `outage_s`: back with the lock session alive, they resume; a session gone, or no
    answer in time, ends the lead. None when stopped, else why the lead was lost."""
    import structlog

    from monitor.daemon.leader import Lead

    log = structlog.get_logger("sfm.daemon")
    away_since: float | None = None
    tick = min(5.0, lock_poll_s(daemon))
    while not stop.wait(tick):
        daemon.watch_clock()
        lead = lock.check(timeout_s=tick)
        if lead is Lead.HELD:
            if away_since is not None:
                log.info("the database answers again; the lead is kept and jobs resume")
                daemon.resume()
                away_since = None
            continue
        if lead is Lead.LOST:
            log.error("lost the leader lock; stopping so that a standby can lead")
            return Message("daemon.lost_lock")
        if away_since is None:
            away_since = time.monotonic()
            daemon.pause()
            log.error("the database does not answer; jobs paused", wait_s=outage_s)
        elif time.monotonic() - away_since > outage_s:
            log.error("the database stayed away; stopping so that a standby can lead")
            return Message("daemon.db_outage", seconds=round(outage_s))
    return None


def lock_poll_s(daemon: Daemon) -> float:
    return float(daemon.runtime.config.settings.daemon.standby_poll_s)


def serve_api(runtime: Runtime, daemon: Daemon, metrics: Metrics, fence: Any) -> ApiServer:
    """The API on the daemon's socket (DESIGN §7), and /healthz and /metrics on the
    loopback port if one is set."""
    from monitor.api.server import ApiServer, Limits, health_app
    from monitor.config import door_socket
    from monitor.daemon.status import healthy

    settings = runtime.config.settings
    runtime.daemon = daemon  # staff sweeps started through the API are its jobs

    def fine() -> bool:
        return (
            daemon.running()
            and (fence is None or fence.file_still_there())
            and healthy(runtime.engine)
        )

    http = (settings.daemon.http_host, settings.daemon.http_port)
    return ApiServer(
        runtime,
        door_socket(settings.database.url, settings.daemon.socket),
        settings.daemon.socket_group,
        Limits(
            max_connections=settings.daemon.max_connections,
            io_timeout_s=settings.daemon.io_timeout_s,
            max_import_bytes=settings.daemon.max_import_bytes,
            readers=settings.daemon.readers,
        ),
        health=health_app(metrics, fine),
        http=http if settings.daemon.http_port else None,
    )
