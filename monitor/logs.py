"""structlog set-up: console on a terminal, JSON lines otherwise; secrets never written.

Log calls carry `credit_code` and `connector` as keys wherever they concern a
factory or a provider, so one grep follows a factory through a sweep.
"""

from __future__ import annotations

import logging
import logging.handlers
import re
import sys
from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import Any

import structlog

from monitor.config import MASK, LoggingSettings, mask_secrets

_SECRET_KEYS = re.compile(r"pass(word)?|secret|token|api[_-]?key|authorization|cookie", re.I)


def redact_secrets(_logger: Any, _name: str, event_dict: MutableMapping[str, Any]) -> Any:
    """Mask values under secret-looking keys, passwords inside URLs and every value the
    config took from the environment, at any depth (dicts, lists, an exception's text)."""
    for key, value in list(event_dict.items()):
        if key not in _UNTOUCHED and not key.startswith("_"):  # structlog's own machinery
            event_dict[key] = _redacted(key, value)
    return event_dict


# the exception itself (made text, and masked, by format_exc_info's turn) and stack info
_UNTOUCHED = frozenset({"exc_info", "stack_info"})


def _redacted(key: Any, value: Any, depth: int = 0) -> Any:
    if isinstance(key, str) and _SECRET_KEYS.search(key):
        return MASK
    if isinstance(value, str):
        return mask_secrets(value)
    if depth > 20:  # deeper than any value sfm logs: shown as masked text, not walked
        return mask_secrets(repr(value))
    if isinstance(value, Mapping):
        return {k: _redacted(k, v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_redacted(None, item, depth + 1) for item in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return mask_secrets(str(value))  # an object's text may hold a secret too


def _drop_traceback(_logger: Any, _name: str, event_dict: MutableMapping[str, Any]) -> Any:
    # The terminal gets one line per event; the traceback goes to the log file only.
    event_dict.pop("exc_info", None)
    event_dict.pop("exception", None)
    return event_dict


_SHARED: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    redact_secrets,
]


class _CurrentStderr:
    """Whatever sys.stderr is when a line is written, not when logging was set up."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return sys.stderr.isatty()


def configure_logging(settings: LoggingSettings, *, stream: Any = None) -> None:
    """Route structlog through stdlib logging to stderr and, if configured, a JSON file."""
    stream = stream or _CurrentStderr()
    on_terminal = hasattr(stream, "isatty") and stream.isatty()
    terminal_renderer: Any = (
        structlog.dev.ConsoleRenderer() if on_terminal else structlog.processors.JSONRenderer()
    )
    stream_handler = logging.StreamHandler(stream)
    stream_handler.setLevel(settings.level.upper())
    stream_handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=_SHARED,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                _drop_traceback,
                terminal_renderer,
            ],
        )
    )
    handlers: list[logging.Handler] = [stream_handler]
    if settings.file:
        path = Path(settings.file)
        path.parent.mkdir(parents=True, exist_ok=True)
        file_handler = logging.handlers.WatchedFileHandler(path, encoding="utf-8")
        file_handler.setLevel(settings.file_level.upper())
        file_handler.setFormatter(
            structlog.stdlib.ProcessorFormatter(
                foreign_pre_chain=_SHARED,
                processors=[
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info,
                    # once more, after the traceback became text: its messages and
                    # locals are masked like every other value
                    redact_secrets,
                    structlog.processors.JSONRenderer(ensure_ascii=False),
                ],
            )
        )
        handlers.append(file_handler)

    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(min(handler.level for handler in handlers))
    # urllib3 (under apprise) logs each request line, webhook keys in its path included
    for noisy in ("httpx", "httpcore", "alembic", "apscheduler", "urllib3", "aiohttp"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))

    structlog.configure(
        processors=[*_SHARED, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
