"""The words sfm records things in: one place for the models' CHECK constraints, the rules,
the fast reads and the texts (whose catalogue keys are `<name>.<value>`).

Plain enums and the rule catalogue only, imported by everything and importing nothing, so
a command that must start fast can use them without the database layer.
"""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True)
class RuleSpec:
    """A rule, declared once: what the rules, `flags raise`, the flag tables and the texts
    read of it. The database refuses a flag under any other id (migration 0010_rule_ids,
    whose list a test holds to this table: a new rule comes with a migration)."""

    id: str
    clause: str  # the grounds it rests on, in the 2025 numbering ("5(3), 12(1)"; "—": data)
    severity: str  # a Severity value (a finding may be milder: 重大 by analogy is a review)
    topic: str  # the topic whose answers raise it and can make it go away
    summaries: tuple[str, ...]  # the catalogue keys of its findings' summaries
    raisable: bool  # staff may raise it (`sfm flags raise`) for evidence from outside
    zh: str  # its name, as tables print it and `--rule` accepts it
    en: str


RULES: dict[str, RuleSpec] = {
    spec.id: spec
    for spec in (
        RuleSpec(
            "art12.1-false-information",
            "12(1)",
            "revocation",
            "",
            ("finding.raised_by_staff",),
            True,
            "申请中提供虚假信息或其他违法行为",
            "false information in the application",
        ),
        RuleSpec(
            "art12.2-terminated",
            "12(2)",
            "revocation",
            "registration",
            ("finding.terminated",),
            True,
            "企业依法终止",
            "terminated by law",
        ),
        RuleSpec(
            "art12.2-not-operating",
            "12(2)",
            "review",
            "registration",
            (
                "finding.not_operating_status",
                "finding.abnormal_operation",
                "finding.stopped_by_penalty",
            ),
            True,
            "无法正常经营",
            "cannot operate normally",
        ),
        RuleSpec(
            "art12.3-major-accident",
            "12(3)",
            "revocation",
            "safety",
            ("finding.accident",),
            True,
            "发生重大事故",
            "major accident",
        ),
        RuleSpec(
            "art12.3-large-accident",
            "5(3), 12(5)",
            "review",
            "safety",
            ("finding.accident",),
            True,
            "认定后发生较大事故",
            "large accident while designated",
        ),
        RuleSpec(
            "art5.3-prior-accident",
            "5(3), 12(1)",
            "review",
            "safety",
            ("finding.prior_accident",),
            True,
            "认定前三年内发生较大及以上事故",
            "accident in the three years before designation",
        ),
        RuleSpec(
            "art5.3-prior-violation",
            "5(3), 12(1)",
            "review",
            "credit",
            ("finding.prior_violation",),
            True,
            "认定前三年内有不良信用记录或违法违规行为",
            "bad credit record or violation in the three years before designation",
        ),
        RuleSpec(
            "art12.4-relocated",
            "12(4)",
            "revocation",
            "registration",
            ("finding.relocated",),
            True,
            "注册地迁至京外",
            "registered seat moved out of Beijing",
        ),
        RuleSpec(
            "art12.4-relocation-unconfirmed",
            "12(4)",
            "review",
            "registration",
            ("finding.relocation_unconfirmed",),
            True,
            "迁出迹象待核实",
            "signs of a move to check",
        ),
        RuleSpec(
            "art12.5-penalty",
            "12(5)",
            "review",
            "credit",
            ("finding.penalty", "finding.penalty_fine_unknown", "finding.listing"),
            True,
            "受到处罚",
            "penalised",
        ),
        RuleSpec(
            "art12-rename-pending",
            "12",
            "action",
            "registration",
            ("finding.rename",),
            True,
            "待申请更名",
            "rename to apply for",
        ),
        RuleSpec(
            "art12-restructure-pending",
            "12",
            "review",
            "registration",
            ("finding.restructure", "finding.restructure_reported"),
            True,
            "疑似重组",
            "possible restructuring",
        ),
        RuleSpec(
            "register-district-changed",
            "4",
            "action",
            "registration",
            ("finding.district_changed",),
            True,
            "所在区变更",
            "district changed",
        ),
        RuleSpec(
            "data-unknown-status",
            "—",
            "review",
            "registration",
            ("finding.unknown_status",),
            False,
            "无法识别的登记状态",
            "unrecognised status",
        ),
        RuleSpec(
            "data-unknown-value",
            "—",
            "review",
            "",  # the topic of the answer that carried it
            ("finding.unknown_value",),
            False,
            "无法识别的数据取值",
            "unrecognised value",
        ),
        RuleSpec(
            "data-ungraded-accident",
            "—",
            "review",
            "safety",
            ("finding.ungraded_accident",),
            False,
            "事故无法定级",
            "ungraded accident",
        ),
        RuleSpec(
            "data-not-found",
            "—",
            "review",
            "registration",
            ("finding.not_found",),
            False,
            "数据源查无此企业",
            "not found at the source",
        ),
        RuleSpec(
            "data-implausible-date",
            "—",
            "review",
            "",  # the topic of the record that carried it
            ("finding.implausible_date",),
            False,
            "日期不可能成立",
            "implausible date",
        ),
    )
}
RULE_IDS = tuple(RULES)


def sql_in(column: str, values: type[StrEnum]) -> str:
    """The text of a CHECK constraint that admits exactly an enum's values."""
    return f"{column} IN ({', '.join(repr(member.value) for member in values)})"
