"""`sfm run`: the daemon in the foreground (SIGTERM or Ctrl-C: finish the batch, exit 0)."""

from __future__ import annotations

import sys
import threading
from typing import TYPE_CHECKING, Annotated

import typer

from monitor.cli.common import AppContext, state
from monitor.errors import JobsFailed, LeadershipLost
from monitor.i18n import Message

if TYPE_CHECKING:
    from monitor.daemon.door import Door


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

    from monitor.daemon.leader import LeaderLock, leader, refusal
    from monitor.daemon.metrics import Metrics, serve_http
    from monitor.daemon.preflight import require_startable
    from monitor.daemon.scheduler import Daemon, stop_on_signals
    from monitor.daemon.status import healthy
    from monitor.logs import configure_logging

    app_state = state(ctx)
    settings = app_state.config.settings
    # journald and docker read stdout; JSON lines there unless it is a terminal
    configure_logging(settings.logging, stream=sys.stdout)
    log = structlog.get_logger("sfm.daemon")
    # before the lead: a standby with a bad config must not take over only to fail
    require_startable(app_state.config)
    engine = app_state.engine
    stop = threading.Event()
    stop_on_signals(stop)

    lock = LeaderLock(engine)
    if not lock.try_acquire():
        if not standby:
            raise refusal(engine)
        log.info("standing by", leader=leader(engine))
        while not lock.try_acquire():
            if stop.wait(settings.daemon.standby_poll_s):
                return
        log.info("taking over as leader")
    server = door = None
    try:
        metrics = Metrics(engine)
        daemon = Daemon(app_state, metrics, stop)
        if once:
            failed = daemon.run_due_once()
            if failed:
                raise JobsFailed(
                    Message("daemon.jobs_failed", count=len(failed), what="; ".join(failed))
                )
            return
        if settings.daemon.http_port:
            server = serve_http(
                settings.daemon.http_host,
                settings.daemon.http_port,
                metrics,
                lambda: daemon.running() and healthy(engine),
            )
        door = open_door(app_state)
        daemon.start()
        lost = False
        while not stop.wait(min(5.0, settings.daemon.standby_poll_s)):
            if not lock.still_held():
                log.error("lost the leader lock; stopping so that a standby can lead")
                lost = True
                break
        if not daemon.shutdown(settings.daemon.stop_timeout_s):
            log.error("a job did not finish in time; exiting anyway")
        log.info("daemon stopped")
        if lost:
            raise LeadershipLost(Message("daemon.lost_lock"))
    finally:
        if door is not None:
            door.close()
        if server is not None:
            server.shutdown()
            server.server_close()
        lock.release()


def open_door(app_state: AppContext) -> Door | None:
    """The socket staff commands reach this daemon by (DESIGN §7), if it has one."""
    from monitor.cli.remote import command_handler
    from monitor.config import door_socket
    from monitor.daemon.door import Door

    settings = app_state.config.settings
    path = door_socket(settings.database.url, settings.daemon.socket)
    if path is None:
        return None
    return Door(path, settings.daemon.socket_group, command_handler(app_state))
