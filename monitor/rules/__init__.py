"""Article 12 as pure functions: a factory's facts and the measures over time → findings.

No rule does I/O. Each module reads like the clause it implements; `evaluate`
runs every enabled rule and merges findings that rest on the same evidence.
A continuing state is judged by the measures in force today; an event (an
accident, a penalty decision) by those in force on its day, so a successor never
re-judges the past (DESIGN §4, time anchors).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any, Literal

from connectors.base import (
    CanonicalRecord,
    CreditRecord,
    RegistrationRecord,
    SafetyRecord,
    Topic,
)
from monitor.rules.policy import Measures, Policy, PolicyChoice, map_status
from monitor.vocabulary import RULES, RegistrationStatus, Severity

Anchor = Literal["event", "listing", "state"]


@dataclass(frozen=True)
class SourceAnswer:
    """The latest answer of one connector about one factory."""

    connector: str
    topic: Topic
    outcome: Literal["found", "not_found", "error"]
    records: tuple[CanonicalRecord, ...]
    observed_at: datetime
    observation_id: int
    source_name: str = ""  # what officials read for the connector ("企查查"); "" : its name


@dataclass(frozen=True)
class FactoryFacts:
    credit_code: str
    name: str  # the designated name, as last recorded by the bureau
    designated_on: date
    baseline_entity_type: str | None  # seen at the first sweep after designation
    answers: tuple[SourceAnswer, ...]
    districts: tuple[str, ...] = ()  # the districts of the designations in force

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
    # how its fact ends (an event never un-happens) and which block of measures judged it
    anchor: Anchor = "state"
    judged_by: PolicyChoice | None = None  # None: the measures in force today


def credit_params(record: CreditRecord) -> dict[str, Any]:
    """A credit record's words for its finding's summary."""
    return {
        "kind": record.kind.value,
        "authority": record.authority or "—",
        "decided_on": str(record.decided_on or "—"),
        "document_no": record.document_no or "—",
        "fine": f"{record.fine_cny:,.0f}" if record.fine_cny is not None else "—",
        "reason": record.reason or "—",
    }


def credit_evidence(answer: SourceAnswer, record: CreditRecord) -> dict[str, Any]:
    """A credit record as a flag's evidence."""
    return evidence_of(
        answer,
        record_id=record.record_id,
        kind=record.kind.value,
        decided_on=record.decided_on,
        removed_on=record.removed_on,
        authority=record.authority,
        document_no=record.document_no,
        fine_cny=record.fine_cny,
        reason=record.reason,
    )


def found(
    rule_id: str,
    evidence_key: str,
    summary_key: str,
    summary_params: dict[str, Any],
    evidence: dict[str, Any],
    *,
    severity: Severity | None = None,
    topic: Topic | None = None,
    anchor: Anchor = "state",
    judged_by: PolicyChoice | None = None,
) -> Finding:
    """A finding of a rule as the catalogue declares it (monitor/vocabulary.RULES): its clause,
    severity and topic come from there; `severity` may only make it milder, `topic` names the
    answer's own for the data rules that follow any topic."""
    spec = RULES[rule_id]
    if summary_key not in spec.summaries:
        raise ValueError(f"{rule_id} does not declare the summary {summary_key}")
    declared = Severity(spec.severity)
    return Finding(
        rule_id,
        spec.clause,
        severity or declared,
        topic or (Topic(spec.topic) if spec.topic else None),
        evidence_key,
        summary_key,
        summary_params,
        evidence,
        anchor,
        judged_by,
    )


def policy_status(record: RegistrationRecord, policy: Policy) -> RegistrationStatus:
    """The status under the measures in force (their status map over the defaults)."""
    return map_status(record.raw_status, policy.status_map)


def evidence_of(answer: SourceAnswer, **more: Any) -> dict[str, Any]:
    return {
        "source": answer.connector,
        "source_name": answer.source_name or answer.connector,
        "observed_at": answer.observed_at.isoformat(),
        "observation_id": answer.observation_id,
        **{k: (v.isoformat() if isinstance(v, date) else v) for k, v in more.items()},
    }


StateRule = Callable[[FactoryFacts, Policy, date], list[Finding]]
EventRule = Callable[[FactoryFacts, Measures], list[Finding]]

# The rules staff may raise, with their clause and severity (from the catalogue).
CLAUSES: dict[str, tuple[str, Severity]] = {
    spec.id: (spec.clause, Severity(spec.severity)) for spec in RULES.values() if spec.raisable
}


def state_rules() -> list[StateRule]:
    """The rules of continuing states, judged by the measures in force today; one rule may
    find under several rule ids (a relocation, or a relocation to check)."""
    from monitor.rules import data, district, naming, relocation, termination

    return [
        termination.terminated,
        termination.not_operating,
        relocation.relocated,
        district.district_changed,
        naming.rename_pending,
        naming.restructure_pending,
        data.unknown_status,
        data.unknown_values,
        data.not_found,
    ]


def event_rules() -> list[EventRule]:
    """The rules that judge each event by the measures in force on its day (and listings,
    which stand, by today's)."""
    from monitor.rules import accident, penalty, prior_violation

    return [accident.accidents, penalty.penalised, prior_violation.prior_violations]


def _judged(facts: FactoryFacts, measures: Measures) -> Iterator[Finding]:
    from monitor.rules.data import plausible_only

    today = measures.now
    facts, implausible = plausible_only(facts, measures.today)
    for finding in implausible:
        yield replace(finding, judged_by=today)
    for state_rule in state_rules():
        for finding in state_rule(facts, today.policy, measures.today):
            yield replace(finding, judged_by=today)
    for event_rule in event_rules():
        for finding in event_rule(facts, measures):
            yield finding if finding.judged_by else replace(finding, judged_by=today)


def evaluate(facts: FactoryFacts, measures: Measures) -> list[Finding]:
    """Every enabled rule's findings, one per (rule, evidence key); each says which measures
    judged it (a rule is switched on or off by those measures)."""
    merged: dict[tuple[str, str], Finding] = {}
    for finding in _judged(facts, measures):
        judge = finding.judged_by
        assert judge is not None
        if not judge.policy.enabled(finding.rule_id):
            continue
        finding.evidence["measures"] = judge.policy.title
        finding.evidence["measures_key"] = judge.key
        key = (finding.rule_id, finding.evidence_key)
        if key in merged:  # the same fact from two sources: one finding, both sources
            sources = sorted(
                {*merged[key].evidence.get("sources", []), finding.evidence.get("source")} - {None}
            )
            merged[key].evidence["sources"] = sources
        else:
            finding.evidence.setdefault("sources", [finding.evidence.get("source")])
            merged[key] = finding
    return list(merged.values())
