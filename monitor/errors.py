"""Every error sfm reports to a user, as one hierarchy with the CLI's exit codes (DESIGN §7)."""

from __future__ import annotations

from monitor.i18n import Message


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


class ConfigError(BadInput):
    """The configuration is invalid: names the file and the key."""


class Refused(SfmError):
    """A valid request that sfm will not carry out (scope, state transition, schema)."""

    exit_code = 3


class NotFound(SfmError):
    exit_code = 4
