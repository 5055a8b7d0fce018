"""Data findings: what sfm cannot read must reach a person, never be taken as good news."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from connectors.base import CanonicalRecord, CreditRecord, SafetyRecord, Topic
from monitor.rules import FactoryFacts, Finding, evidence_of, found, policy_status
from monitor.rules.policy import Policy
from monitor.vocabulary import RegistrationStatus


def unknown_status(facts: FactoryFacts, policy: Policy, today: date) -> list[Finding]:
    return [
        found(
            "data-unknown-status",
            f"status:{record.raw_status}",
            "finding.unknown_status",
            {"raw_status": record.raw_status},
            evidence_of(answer, raw_status=record.raw_status),
        )
        for answer, record in facts.registrations()
        if policy_status(record, policy) is RegistrationStatus.UNKNOWN
    ]


def not_found(facts: FactoryFacts, policy: Policy, today: date) -> list[Finding]:
    return [
        found(
            "data-not-found",
            f"not_found:{answer.connector}",
            "finding.not_found",
            {"source": answer.source_name or answer.connector},
            evidence_of(answer),
        )
        for answer in facts.answers
        if answer.topic is Topic.REGISTRATION and answer.outcome == "not_found"
    ]


def unknown_values(facts: FactoryFacts, policy: Policy, today: date) -> list[Finding]:
    """A kind, category or grade the mapping did not know: the record is kept as `unknown`,
    and a person reads the provider's word."""
    findings = []
    for answer in facts.answers:
        if answer.outcome != "found":
            continue
        for record in answer.records:
            for field, text in sorted(record.unmapped.items()):
                findings.append(
                    found(
                        "data-unknown-value",
                        f"{field}:{text}",
                        "finding.unknown_value",
                        {"field": field, "text": text},
                        evidence_of(answer, field=field, text=text),
                        topic=answer.topic,
                    )
                )
    return findings


EARLIEST = date(1949, 1, 1)


def _dated(record: CanonicalRecord) -> tuple[str, date | None] | None:
    if isinstance(record, SafetyRecord):
        return "occurred_on", record.occurred_on
    if isinstance(record, CreditRecord):
        return "decided_on", record.decided_on
    return None


def plausible_only(facts: FactoryFacts, today: date) -> tuple[FactoryFacts, list[Finding]]:
    """The facts without the records dated after today or before 1949, and a finding for
    each of those: a data error for a person, and no other rule acts on the record."""
    findings: list[Finding] = []
    answers = []
    for answer in facts.answers:
        kept = []
        for record in answer.records:
            dated = _dated(record)
            day = dated[1] if dated else None
            if dated is None or day is None or EARLIEST <= day <= today:
                kept.append(record)
                continue
            field = dated[0]
            record_id = getattr(record, "record_id", "")
            findings.append(
                found(
                    "data-implausible-date",
                    f"{answer.connector}:{record_id}:{field}",
                    "finding.implausible_date",
                    {"field": field, "value": str(day)},
                    evidence_of(answer, record_id=record_id, field=field, text=str(day)),
                    topic=answer.topic,
                )
            )
        answers.append(
            answer if len(kept) == len(answer.records) else replace(answer, records=tuple(kept))
        )
    if not findings:
        return facts, []
    return replace(facts, answers=tuple(answers)), findings
