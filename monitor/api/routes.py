"""The API's operations: each a plain function of one `Call`, registered on a `Routes`
table by its resource module, and found here by method and path. The daemon serves them
(monitor/api/server.py); the CLI calls them in-process without one (monitor/api/inprocess.py).

A handler returns JSON-able data, or a `Download` (a file it wrote); it raises `SfmError`
for what the caller must hear, which `error_reply` turns into the stable JSON error.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from monitor.api.protocol import ERRORS
from monitor.errors import (
    BadInput,
    NotFound,
    Refused,
    SfmError,
    SweepIncomplete,
    TooLarge,
    one_line,
)
from monitor.i18n import Message

if TYPE_CHECKING:
    from monitor.operators import Operator
    from monitor.runtime import Runtime


# A listing's page is bounded; the CLI reads more page after page (`--limit 0`: all).
MAX_PAGE = 10_000


@dataclass(frozen=True)
class Caller:
    """Who is calling, as the kernel says (SO_PEERCRED on the socket, or this process's
    real ids without a daemon), and the operator they claim, which counts only where
    the config lets the database's own account name one (demo, tests)."""

    uid: int
    pid: int
    gid: int
    claimed_operator: str | None = None


@dataclass
class Call:
    runtime: Runtime
    caller: Caller
    args: Mapping[str, str] = field(default_factory=dict)  # the path's parameters
    params: Mapping[str, str] = field(default_factory=dict)  # the query string
    body: Any = None  # the JSON body
    upload: Path | None = None  # an uploaded file, saved privately by the transport

    @property
    def operator(self) -> Operator:
        """The configured operator acting now; refused (exit 3) if there is none."""
        from monitor.operators import current_operator

        return current_operator(
            self.runtime.config.settings,
            {"SFM_OPERATOR": self.caller.claimed_operator or ""},
            peer_uid=self.caller.uid,
        )

    def text(self, name: str, default: str | None = None) -> str | None:
        value = self.params.get(name)
        return default if value is None or value == "" else value

    def number(self, name: str, default: int, *, least: int = 0) -> int:
        value = self.params.get(name)
        if value is None or value == "":
            return default
        try:
            number = int(value)
        except ValueError:
            number = least - 1
        if number < least:
            raise BadInput(Message("api.bad_number", name=name, value=value, least=least))
        return number

    def page(self) -> dict[str, int]:
        """A listing's `limit` (default 100, at most MAX_PAGE) and `offset`, as keywords."""
        return {
            "limit": min(self.number("limit", 100, least=1), MAX_PAGE),
            "offset": self.number("offset", 0),
        }

    def flag(self, name: str) -> bool:
        return self.params.get(name, "").lower() in ("1", "true", "yes")

    def arg_id(self, name: str = "id") -> int:
        value = self.args[name]
        if not value.isdigit():
            raise NotFound(Message("api.no_such", what=value))
        return int(value)

    def field(self, name: str, *, required: bool = True) -> Any:
        """A field of the JSON body; a missing required one is bad input (exit 2)."""
        body = self.body if isinstance(self.body, dict) else {}
        value = body.get(name)
        if required and (value is None or value == ""):
            raise BadInput(Message("api.missing_field", name=name))
        return value


@dataclass
class Download:
    """A file a handler wrote (privately) for the caller: sent as the response's body, then
    removed. `result` travels beside it (how many rows)."""

    path: Path
    filename: str
    result: dict[str, Any]
    cleanup: Callable[[], None] = lambda: None


Handler = Callable[[Call], Any]


@dataclass(frozen=True)
class Operation:
    method: str
    pattern: str
    handler: Handler
    upload: bool = False  # the body is a file (bounded by [daemon] max_import_bytes)
    status: int = 200
    # answered from the database alone: a reading worker of the daemon may answer it
    # (monitor/api/readers.py)
    reader: bool = False

    @property
    def regex(self) -> re.Pattern[str]:
        return re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", self.pattern) + "$")


class Routes:
    """A resource module's operations."""

    def __init__(self) -> None:
        self.operations: list[Operation] = []

    def _add(self, method: str, pattern: str, **options: Any) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.operations.append(Operation(method, pattern, handler, **options))
            return handler

        return register

    def get(self, pattern: str, **options: Any) -> Callable[[Handler], Handler]:
        return self._add("GET", pattern, **options)

    def post(self, pattern: str, **options: Any) -> Callable[[Handler], Handler]:
        return self._add("POST", pattern, **options)


def table() -> list[Operation]:
    """Every operation of the API, from each resource module."""
    from monitor.api import alerts, audit, exports, factories, flags, status, sweeps

    return [
        operation
        for module in (flags, factories, alerts, sweeps, audit, exports, status)
        for operation in module.routes.operations
    ]


class Router:
    """Operations found by method and path (the in-process transport's; aiohttp has its own)."""

    def __init__(self, operations: list[Operation]) -> None:
        self._compiled = [(operation, operation.regex) for operation in operations]

    def find(self, method: str, raw_path: str) -> tuple[Operation, dict[str, str]]:
        """Match the path as sent (percent-encoded), then decode each argument, as aiohttp
        does: a credit code typed with a "/" is one argument for its handler to judge."""
        for operation, regex in self._compiled:
            matched = regex.match(raw_path)
            if matched and operation.method == method:
                return operation, {
                    name: unquote(value) for name, value in matched.groupdict().items()
                }
        raise NotFound(Message("api.no_route", method=method, path=unquote(raw_path)))


def answer(operation: Operation, call: Call) -> tuple[int, Any]:
    """Run one operation for its caller: its status and result, or its error as JSON.
    Every line logged meanwhile, the request's own included, names the caller's uid and
    the operator configured for it (none: the caller is not one)."""
    import structlog

    log = structlog.get_logger("sfm.api")
    started = time.monotonic()
    with structlog.contextvars.bound_contextvars(
        uid=call.caller.uid,
        pid=call.caller.pid,
        operator=_operator_of(call),
        operation=f"{operation.method} {operation.pattern}",
    ):
        try:
            status, result = operation.status, operation.handler(call)
        except SfmError as error:
            log.info("request refused", error=str(error), exit_code=error.exit_code)
            status, result = error_reply(error)
        except Exception as error:
            log.exception("request failed")
            status, result = error_reply(SfmError(one_line(error)), "unexpected")
        log.info("request", status=status, took_ms=round((time.monotonic() - started) * 1000))
        return status, result


def _operator_of(call: Call) -> str | None:
    try:
        return call.operator.user
    except SfmError:  # no operator for this uid, or a claim the config does not allow
        return None


def error_code(error: SfmError) -> str:
    if isinstance(error, SweepIncomplete):
        return "incomplete"
    if isinstance(error, TooLarge):
        return "too_large"
    if isinstance(error, BadInput):
        return "bad_input"
    if isinstance(error, Refused):
        return "refused"
    if isinstance(error, NotFound):
        return "not_found"
    return "unexpected"


def error_reply(error: SfmError, code: str | None = None) -> tuple[int, dict[str, Any]]:
    """The JSON error a caller gets: a stable code, the CLI's exit code, the message in
    the caller's language, and its details."""
    code = code or error_code(error)
    status, exit_code = ERRORS[code]
    return status, {
        "error": {
            "code": code,
            "exit": exit_code,
            "message": str(error),
            "details": [str(detail) for detail in error.details],
        }
    }


def json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
