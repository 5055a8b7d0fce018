"""The world commands and jobs act in, built once: the configuration, the database, the
alerting, the connectors' built-in upstream. The daemon builds one at start and serves its
API and runs its jobs with it; without a daemon the CLI builds one for its own call, as the
database's owner."""

from __future__ import annotations

from contextlib import ExitStack
from functools import cached_property
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from monitor.alerts.service import Alerting
    from monitor.config import LoadedConfig
    from monitor.daemon.scheduler import Daemon


class Runtime:
    def __init__(
        self, config: LoadedConfig, *, owner_only: bool = False, beside_daemon: bool = False
    ) -> None:
        """`owner_only`: this process is not the daemon, so it may open a SQLite database
        only if its real uid owns the file (DESIGN §7). `beside_daemon`: a worker of the
        daemon's, which opens the daemon's database only while it is there."""
        self.config = config
        self.owner_only = owner_only
        self.beside_daemon = beside_daemon
        self._resources = ExitStack()
        # the daemon this runtime serves (`sfm run` sets it): staff sweeps are its jobs then
        self.daemon: Daemon | None = None
        from monitor.api.sweeps import StaffSweeps

        self.sweeps = StaffSweeps(self)  # staff's sweeps started through the API

    @classmethod
    def load(cls, config_path: str | None = None, *, owner_only: bool = False) -> Runtime:
        from monitor.config import load_config

        return cls(load_config(config_path), owner_only=owner_only)

    def close(self) -> None:
        """Stop what this runtime started (staff sweeps, the built-in simulator) and close
        the database."""
        self.sweeps.close()
        self._resources.close()
        if "engine" in self.__dict__:
            self.engine.dispose()

    @cached_property
    def engine(self) -> Engine:
        """The database, refusing to work on a schema other than the one this code expects."""
        from monitor.storage.db import make_engine, require_current_schema

        url = self.config.settings.database.url
        if self.owner_only:
            require_owner(url)
        engine = make_engine(url, create=not self.beside_daemon)
        require_current_schema(engine)
        return engine

    @cached_property
    def simulator_url(self) -> str | None:
        """Where the built-in upstream answers, started now if a connector's url names it."""
        from connectors.loader import SIMULATOR_PLACEHOLDER

        if not any(
            SIMULATOR_PLACEHOLDER in (connector.url or "")
            for connector in self.config.settings.connectors
            if connector.enabled
        ):
            return None
        return start_simulator(self.config, self._resources)

    @cached_property
    def alerting(self) -> Alerting:
        from monitor.alerts.service import alerting_for

        return alerting_for(self.engine, self.config)

    @property
    def accept_codes(self) -> list[str]:
        return self.config.settings.codes.accept


def require_owner(database_url: str) -> None:
    """Without the daemon, only the user who owns the database may open it (DESIGN §7);
    the real uid decides, not LOGNAME or USER."""
    import os

    from monitor.errors import Refused
    from monitor.i18n import Message
    from monitor.locations import sqlite_file
    from monitor.operators import user_of

    database = sqlite_file(database_url)
    if database is None:
        return  # a server database: its credentials, which staff do not hold, are the guard
    try:
        owner = os.stat(database).st_uid
    except FileNotFoundError:
        return  # `sfm db upgrade` creates it, owned by whoever runs it
    except PermissionError as exc:  # the state folder is the service user's alone
        raise Refused(Message("door.not_owner", path=database, owner="?")) from exc
    if owner != os.getuid():
        raise Refused(Message("door.not_owner", path=database, owner=user_of(owner)))


def start_simulator(config: LoadedConfig, resources: ExitStack) -> str:
    """The built-in upstream on a free loopback port, stopped when `resources` closes."""
    import structlog

    from connectors.simulator import Behaviour, RunningSimulator, Simulator, load_upstream
    from monitor.errors import BadInput

    settings = config.settings.simulator
    try:
        data = load_upstream(config.simulator_data)
    except (OSError, ValueError) as exc:
        raise BadInput(f"simulator data {config.simulator_data}: {exc}") from exc
    behaviour = Behaviour(
        latency_ms=settings.latency_ms,
        error_rate=settings.error_rate,
        error_kinds=list(settings.error_kinds),
        seed=settings.seed,
        rate_limit_per_s=settings.rate_limit_per_s,
        synthesize=settings.synthesize,
    )
    running = resources.enter_context(RunningSimulator(Simulator(data, behaviour)))
    structlog.get_logger("sfm.simulator").info("simulator started", url=running.base_url)
    return running.base_url
