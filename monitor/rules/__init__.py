"""Article 12 as pure functions: a factory's facts and the measures in force → findings.

No rule does I/O. Each module reads like the clause it implements; `evaluate`
runs every enabled rule and merges findings that rest on the same evidence.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

from connectors.base import (
    CanonicalRecord,
    CreditRecord,
    RegistrationRecord,
    SafetyRecord,
    Topic,
)
from monitor.rules.policy import Policy, map_status
from monitor.vocabulary import RegistrationStatus, Severity


@dataclass(frozen=True)
class SourceAnswer:
    """The latest answer of one connector about one factory."""

    connector: str
    topic: Topic
    outcome: Literal["found", "not_found", "error"]
    records: tuple[CanonicalRecord, ...]
    observed_at: datetime
    observation_id: int


@dataclass(frozen=True)
class FactoryFacts:
    credit_code: str
    name: str  # the designated name, as last recorded by the bureau
    designated_on: date
    baseline_entity_type: str | None  # seen at the first sweep after designation
    answers: tuple[SourceAnswer, ...]

    def found(self, topic: Topic) -> Iterator[SourceAnswer]:
        return (a for a in self.answers if a.topic is topic and a.outcome == "found")

    def registrations(self) -> Iterator[tuple[SourceAnswer, RegistrationRecord]]:
        for answer in self.found(Topic.REGISTRATION):
            for record in answer.records:
                if isinstance(record, RegistrationRecord):
                    yield answer, record

    def credit(self) -> Iterator[tuple[SourceAnswer, CreditRecord]]:
        for answer in self.found(Topic.CREDIT):
            for record in answer.records:
                if isinstance(record, CreditRecord):
                    yield answer, record

    def safety(self) -> Iterator[tuple[SourceAnswer, SafetyRecord]]:
        for answer in self.found(Topic.SAFETY):
            for record in answer.records:
                if isinstance(record, SafetyRecord):
                    yield answer, record


@dataclass(frozen=True)
class Finding:
    rule_id: str
    clause: str
    severity: Severity
    topic: Topic | None  # the topic whose answers can make it go away
    evidence_key: str
    summary_key: str  # i18n catalog key, rendered when shown
    summary_params: dict[str, Any] = field(default_factory=dict)
    evidence: dict[str, Any] = field(default_factory=dict)


def policy_status(record: RegistrationRecord, policy: Policy) -> RegistrationStatus:
    """The status under the measures in force (their status map over the defaults)."""
    return map_status(record.raw_status, policy.status_map)


def evidence_of(answer: SourceAnswer, **more: Any) -> dict[str, Any]:
    return {
        "source": answer.connector,
        "observed_at": answer.observed_at.isoformat(),
        "observation_id": answer.observation_id,
        **{k: (v.isoformat() if isinstance(v, date) else v) for k, v in more.items()},
    }


Rule = Callable[[FactoryFacts, Policy, date], list[Finding]]

# Each rule's clause and severity, for flags staff raise from evidence that reached
# them outside the connectors (the rules themselves give theirs with each finding).
CLAUSES: dict[str, tuple[str, Severity]] = {
    "art12.1-false-information": ("12(1)", Severity.REVOCATION),
    "art12.2-terminated": ("12(2)", Severity.REVOCATION),
    "art12.2-not-operating": ("12(2)", Severity.REVIEW),
    "art12.3-major-accident": ("12(3)", Severity.REVOCATION),
    "art12.3-large-accident": ("5(3), 12(5)", Severity.REVIEW),
    "art5.3-prior-accident": ("5(3), 12(1)", Severity.REVIEW),
    "art12.4-relocated": ("12(4)", Severity.REVOCATION),
    "art12.4-relocation-unconfirmed": ("12(4)", Severity.REVIEW),
    "art12.5-penalty": ("12(5)", Severity.REVIEW),
    "art12-rename-pending": ("12", Severity.ACTION),
    "art12-restructure-pending": ("12", Severity.REVIEW),
}


def all_rules() -> list[Rule]:
    """Each clause's rule; one rule may find under several rule ids (a relocation, or a
    relocation to check)."""
    from monitor.rules import accident, data, naming, penalty, relocation, termination

    return [
        termination.terminated,
        termination.not_operating,
        accident.accidents,
        relocation.relocated,
        penalty.penalised,
        naming.rename_pending,
        naming.restructure_pending,
        data.unknown_status,
        data.unknown_values,
        data.not_found,
    ]


def evaluate(facts: FactoryFacts, policy: Policy, today: date) -> list[Finding]:
    """Every enabled rule's findings, one per (rule, evidence key)."""
    merged: dict[tuple[str, str], Finding] = {}
    for rule in all_rules():
        for finding in rule(facts, policy, today):
            if not policy.enabled(finding.rule_id):
                continue
            key = (finding.rule_id, finding.evidence_key)
            if key in merged:  # the same fact from two sources: one finding, both sources
                sources = sorted(
                    {*merged[key].evidence.get("sources", []), finding.evidence.get("source")}
                    - {None}
                )
                merged[key].evidence["sources"] = sources
            else:
                finding.evidence.setdefault("sources", [finding.evidence.get("source")])
                merged[key] = finding
    return list(merged.values())
