"""Data findings: what sfm cannot read must reach a person, never be taken as good news."""

from __future__ import annotations

from datetime import date

from connectors.base import Topic
from monitor.rules import FactoryFacts, Finding, Severity, evidence_of, policy_status
from monitor.rules.policy import Policy
from monitor.vocabulary import RegistrationStatus


def unknown_status(facts: FactoryFacts, policy: Policy, today: date) -> list[Finding]:
    return [
        Finding(
            "data-unknown-status",
            "—",
            Severity.REVIEW,
            Topic.REGISTRATION,
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
        Finding(
            "data-not-found",
            "—",
            Severity.REVIEW,
            Topic.REGISTRATION,
            f"not_found:{answer.connector}",
            "finding.not_found",
            {"source": answer.connector},
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
                    Finding(
                        "data-unknown-value",
                        "—",
                        Severity.REVIEW,
                        answer.topic,
                        f"{field}:{text}",
                        "finding.unknown_value",
                        {"field": field, "text": text},
                        evidence_of(answer, field=field, text=text),
                    )
                )
    return findings
