"""Every exception the connectors package raises, as one hierarchy.

A caller that only cares that a source could not be used catches `ConnectorError`;
one that tells a bad setup from a bad answer catches the subclass.
"""

from __future__ import annotations


class ConnectorError(Exception):
    """A connector cannot be used, or what it was given cannot be read."""


class ConnectorSetupError(ConnectorError):
    """A connector's configuration cannot work (unknown plugin, bad options, no simulator)."""


class MappingError(ConnectorError, ValueError):
    """The provider's answer does not fit the configured mapping."""


class TableError(ConnectorError, ValueError):
    """The file cannot be read as a table; `reason` is encoding, format, not_xlsx or unreadable."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(detail or reason)
        self.reason = reason
        self.detail = detail


class RetryableStatus(ConnectorError):
    """A 5xx or 429 answer: worth asking again, after Retry-After if the provider gave one."""

    def __init__(self, status: int, retry_after_s: float | None, body: bytes) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.retry_after_s = retry_after_s
        self.body = body


class OverLimit(ConnectorError, ValueError):
    """An answer over the connector's bounds: body size, field length or JSON nesting."""
