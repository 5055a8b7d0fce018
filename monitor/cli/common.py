"""What every command needs: the daemon's API (the local commands: the config), output."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

import typer

from monitor.i18n import Message

# Kept out of start-up: `sfm flags list` answers within a quarter of a second (issue 20).
if TYPE_CHECKING:
    from rich.console import Console

    from monitor.api.client import Api
    from monitor.config import LoadedConfig


@dataclass
class AppContext:
    """One command's world: where to find the daemon's API, and for the commands that run
    here (`run`, `init`, `db`, `config`, `simulator`) the loaded config."""

    config_path: str | None
    socket_path: str | None = None
    _config: LoadedConfig | None = field(default=None, init=False)
    _api: Api | None = field(default=None, init=False)

    def close(self) -> None:
        """Close the API's connection (and, without a daemon, the in-process runtime)."""
        if self._api is not None:
            self._api.close()

    @property
    def api(self) -> Api:
        """The daemon's API (DESIGN §7): over its socket, or in this process without one."""
        if self._api is None:
            from monitor.api.client import connect

            self._api = connect(self.config_path, self.socket_path)
        return self._api

    @property
    def config(self) -> LoadedConfig:
        if self._config is None:
            from monitor.config import load_config

            self._config = load_config(self.config_path)
        return self._config

    @property
    def database_url(self) -> str:
        return self.config.settings.database.url


def api(ctx: typer.Context) -> Api:
    return state(ctx).api


def state(ctx: typer.Context) -> AppContext:
    obj = ctx.find_root().obj
    assert isinstance(obj, AppContext)
    return obj


# a listing's page as the CLI asks for it; more rows are read page after page
PAGE = 1000


def pages(
    client: Api, path: str, limit: int = 0, *, page: int = PAGE, **filters: Any
) -> Iterator[dict[str, Any]]:
    """The rows of a paged listing (`limit`/`offset`), up to `limit` (0: all), fetched
    `page` rows at a time, so a long listing is streamed, never held whole."""
    offset = 0
    while True:
        size = page if limit == 0 else min(page, limit - offset)
        rows = client.get(path, limit=size, offset=offset, **filters)
        yield from rows
        offset += len(rows)
        if len(rows) < size or (limit and offset >= limit):
            return


def console() -> Console:
    from rich.console import Console

    # Piped output (a report, a log) is not bound by a terminal's width. Text in a table is
    # data (a provider's names and words), never rich markup or emoji codes: "[/]" and
    # ":fire:" in a name are shown as they are (and not parsing them halves a table's cost).
    return Console(
        soft_wrap=False,
        width=None if sys.stdout.isatty() else 160,
        markup=False,
        highlight=False,
        emoji=False,
    )


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
