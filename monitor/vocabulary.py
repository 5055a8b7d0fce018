"""The words sfm records things in: one place for the models' CHECK constraints, the rules,
the fast reads and the texts (whose catalogue keys are `<name>.<value>`).

Plain enums only, imported by everything and importing nothing, so a command
that must start fast can use them without the database layer.
"""

from __future__ import annotations

from enum import StrEnum


class Level(StrEnum):
    BASIC = "basic"  # 基础级: filed with and managed by the district authority
    ADVANCED = "advanced"  # 先进级: designated by the municipal bureau


class DesignationStatus(StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"


class EventKind(StrEnum):
    DESIGNATED = "designated"
    UPDATED = "updated"
    RENAMED = "renamed"
    REVOKED = "revoked"


class Outcome(StrEnum):
    FOUND = "found"
    NOT_FOUND = "not_found"
    ERROR = "error"


class SweepStatus(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    INTERRUPTED = "interrupted"


class FileStatus(StrEnum):
    CONSUMED = "consumed"
    REJECTED = "rejected"


class Severity(StrEnum):
    REVOCATION = "revocation"  # the measures say the designation must go
    REVIEW = "review"  # someone must look and decide
    ACTION = "action"  # the enterprise or the bureau must do something (rename)


class FlagState(StrEnum):
    OPEN = "open"
    CONFIRMED = "confirmed"
    DISMISSED = "dismissed"
    RESOLVED = "resolved"
    CLEARED = "cleared"


class AlertStatus(StrEnum):
    HELD = "held"  # a review/action flag's alert waiting for the daily digest
    BUNDLED = "bundled"  # held, then sent inside a digest (digest_id)
    PENDING = "pending"
    SENDING = "sending"  # claimed by a dispatcher (claimed_at); reclaimed after a lease
    SENT = "sent"
    FAILED = "failed"  # retry budget spent: listed, and re-sent by `sfm alerts retry`


class RegistrationStatus(StrEnum):
    """What a provider's registration status means under the measures' status map."""

    ACTIVE = "active"
    MOVED_OUT = "moved_out"
    DEREGISTERED = "deregistered"
    LICENSE_REVOKED = "license_revoked"
    CANCELLED = "cancelled"
    SUSPENDED = "suspended"
    LIQUIDATING = "liquidating"
    UNKNOWN = "unknown"


RULE_IDS = (
    "art12.1-false-information",
    "art12.2-terminated",
    "art12.2-not-operating",
    "art12.3-major-accident",
    "art12.3-large-accident",
    "art5.3-prior-accident",
    "art5.3-prior-violation",
    "art12.4-relocated",
    "art12.4-relocation-unconfirmed",
    "art12.5-penalty",
    "art12-rename-pending",
    "art12-restructure-pending",
    "register-district-changed",
    "data-unknown-status",
    "data-unknown-value",
    "data-ungraded-accident",
    "data-not-found",
    "data-implausible-date",
)


def sql_in(column: str, values: type[StrEnum]) -> str:
    """The text of a CHECK constraint that admits exactly an enum's values."""
    return f"{column} IN ({', '.join(repr(member.value) for member in values)})"
