"""What every command needs: the loaded config, the database, the acting user, output."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from monitor.i18n import Message

# Kept out of start-up: `sfm flags list` must answer within 0.5 s of a cold start.
if TYPE_CHECKING:
    from rich.console import Console
    from sqlalchemy import Engine

    from monitor.alerts.service import Alerting
    from monitor.config import LoadedConfig
    from monitor.daemon.door import Conversation
    from monitor.operators import Operator

# A file handed to the daemon (an import) is copied to its private folder first; no
# register comes near this size, and a caller cannot make the daemon fill its disk.
MAX_HANDED_FILE_BYTES = 256 << 20


@dataclass
class AppContext:
    """One command's world: where it runs directly, or in the daemon for a caller."""

    config_path: str | None
    _config: LoadedConfig | None = field(default=None, init=False)
    _resources: ExitStack = field(default_factory=ExitStack, init=False)
    # in the daemon: the caller's conversation (their uid is the kernel's word) and the
    # operator they named, honoured only for the daemon's own account (DESIGN §7)
    caller: Conversation | None = field(default=None, init=False)
    claimed_operator: str | None = field(default=None, init=False)

    def for_caller(self, caller: Conversation, claimed_operator: str | None) -> AppContext:
        """The daemon's own config, database and simulator, acting for a door caller."""
        context = AppContext(config_path=None)
        context._config = self.config
        context.caller = caller
        context.claimed_operator = claimed_operator
        for shared in ("engine", "simulator_url", "alerting"):
            context.__dict__[shared] = getattr(self, shared)
        return context

    def close(self) -> None:
        """Stop what this command started (the built-in simulator)."""
        self._resources.close()

    @property
    def config(self) -> LoadedConfig:
        if self._config is None:
            from monitor.config import load_config

            self._config = load_config(self.config_path)
        return self._config

    @cached_property
    def engine(self) -> Engine:
        """The database, refusing to work on a schema other than the one this code expects.
        Opened here directly only by the database's owner (the daemon's own context
        hands its engine to callers)."""
        from monitor.storage.db import make_engine, require_current_schema

        engine = make_engine(self.database_url)
        require_current_schema(engine)
        return engine

    @property
    def database_url(self) -> str:
        """The database's url; opened directly (without the daemon) only by its owner."""
        url = self.config.settings.database.url
        if self.caller is None:
            require_owner(url)
        return url

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
    def operator(self) -> Operator:
        """The configured operator acting now; refused (exit 3) if there is none."""
        from monitor.operators import current_operator

        if self.caller is None:
            return current_operator(self.config.settings)
        return current_operator(
            self.config.settings,
            {"SFM_OPERATOR": self.claimed_operator or ""},
            peer_uid=self.caller.caller.uid,
        )

    @contextmanager
    def reading(self, path: Path) -> Iterator[Path]:
        """The file a command reads. In the daemon, the caller opens it with their own
        permissions and hands it over; the daemon reads a private copy of the same name."""
        if self.caller is None:
            yield path
            return
        from monitor.errors import BadInput

        with self.caller.open(str(path), "rb") as handed, tempfile.TemporaryDirectory() as folder:
            copy = Path(folder) / path.name
            with copy.open("wb") as target:
                copied = 0
                while chunk := handed.read(1 << 20):
                    copied += len(chunk)
                    if copied > MAX_HANDED_FILE_BYTES:
                        raise BadInput(
                            Message(
                                "file.too_large",
                                name=path.name,
                                limit_mb=MAX_HANDED_FILE_BYTES >> 20,
                            )
                        )
                    target.write(chunk)
            yield copy

    @contextmanager
    def writing(self, path: Path) -> Iterator[Path]:
        """The file a command writes. In the daemon, it is written privately first, then
        streamed into a file the caller opened (renamed into place once the command ends)."""
        if self.caller is None:
            yield path
            return
        with tempfile.TemporaryDirectory() as folder:
            draft = Path(folder) / path.name
            yield draft
            with draft.open("rb") as source, self.caller.open(str(path), "wb") as handed:
                shutil.copyfileobj(source, handed)

    @property
    def accept_codes(self) -> list[str]:
        return self.config.settings.codes.accept


def require_owner(database_url: str) -> None:
    """Without the daemon, only the user who owns the database may open it (DESIGN §7);
    the real uid decides, not LOGNAME or USER."""
    from monitor.config import sqlite_file
    from monitor.errors import Refused
    from monitor.operators import user_of

    database = sqlite_file(database_url)
    if database is None:
        return  # a server database: its credentials, which staff do not hold, are the guard
    try:
        owner = os.stat(database).st_uid
    except FileNotFoundError:
        return  # `sfm db upgrade` creates it, owned by whoever runs it
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


def state(ctx: typer.Context) -> AppContext:
    obj = ctx.find_root().obj
    assert isinstance(obj, AppContext)
    return obj


def console() -> Console:
    from rich.console import Console

    # Piped output (a report, a log) is not bound by a terminal's width.
    return Console(soft_wrap=False, width=None if sys.stdout.isatty() else 160)


def _default(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=_default) + "\n")


def stream_json(items: Iterable[Any]) -> None:
    """A JSON array written as its items come, one per line: a long listing is never
    held whole. A bad filter fails on the first item, before anything is written."""
    iterator = iter(items)
    first = next(iterator, _END)
    if first is _END:
        sys.stdout.write("[]\n")
        return
    sys.stdout.write("[\n" + json.dumps(first, ensure_ascii=False, default=_default))
    for item in iterator:
        sys.stdout.write(",\n" + json.dumps(item, ensure_ascii=False, default=_default))
    sys.stdout.write("\n]\n")


_END = object()


def say(message: Message | str) -> None:
    console().print(str(message), highlight=False, markup=False)


def parse_date_option(value: str, option: str) -> date:
    from monitor.errors import BadInput
    from monitor.register.parse import parse_date

    try:
        return parse_date(value)
    except ValueError as exc:
        raise BadInput(f"{option}: " + str(Message("date.invalid", value=value))) from exc
