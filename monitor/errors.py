"""Every error sfm reports to a user, as one hierarchy with the CLI's exit codes (DESIGN §7)."""

from __future__ import annotations

from monitor.i18n import Message, t


class SfmError(Exception):
    """An error the user can act on; `exit_code` is what the CLI returns for it."""

    exit_code = 1

    def __init__(self, message: Message | str, *, details: list[str] | None = None) -> None:
        self.message = message
        self.details = details or []
        super().__init__(str(message))

    def __str__(self) -> str:
        return str(self.message)


class BadInput(SfmError):
    """The input (a file, an argument, the config) is wrong; nothing was changed."""

    exit_code = 2


class TooLarge(BadInput):
    """A request's body (an upload) is over its limit; nothing was read into the database."""


class ConfigError(BadInput):
    """The configuration is invalid: names the file and the key."""


class Refused(SfmError):
    """A valid request that sfm will not carry out (scope, state transition, schema)."""

    exit_code = 3


class NotFound(SfmError):
    exit_code = 4


class InvalidCreditCode(BadInput, ValueError):
    """A credit code that fails GB 32100; `message` says why in the reader's language."""

    def __init__(self, message: Message, *, expected_check: str | None = None) -> None:
        super().__init__(message)
        self.expected_check = expected_check


class JobsFailed(SfmError):
    """`sfm run --once`: some job raised (its traceback is in the log)."""

    exit_code = 1


class LeadershipLost(SfmError):
    """The database lock went away under a running daemon (PostgreSQL restarted)."""

    exit_code = 1


class DeliveryIncomplete(SfmError):
    """Some alerts did not go out (they are retried, or listed as failed)."""

    exit_code = 1


class SweepIncomplete(SfmError):
    """`sfm check`: the sweep ran, but a source failed for every factory, or alerts it
    raised could not be handed over. Nothing was mistaken for a fact; it is incomplete."""

    exit_code = 5


class AuditBroken(SfmError):
    """The audit's hash chain does not hold: an entry was changed, removed or moved."""

    exit_code = 1


def one_line(error: Exception) -> str:
    """An unexpected error as one line in the reader's language. A database error says
    what the database said (locked, connection lost), never the statement or its
    parameters, which go to the log with the traceback."""
    original = getattr(error, "orig", None)
    if type(error).__module__.startswith("sqlalchemy") and original is not None:
        said = str(original).strip().splitlines()
        return t("error.database", detail=said[0] if said else type(original).__name__)
    return t("error.unexpected", detail=f"{type(error).__name__}: {error}")
