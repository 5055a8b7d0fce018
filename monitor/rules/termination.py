"""Article 12(2): the enterprise is terminated by law, or cannot operate normally.

《北京市智能工厂认定管理办法》第十二条（二）：企业依法终止或者不能正常生产经营的。
"""

from __future__ import annotations

from datetime import date

from connectors.base import CreditKind, Topic
from monitor.rules import FactoryFacts, Finding, Severity, evidence_of, policy_status
from monitor.rules.policy import Policy
from monitor.vocabulary import RegistrationStatus

TERMINATED = {
    RegistrationStatus.DEREGISTERED,
    RegistrationStatus.LICENSE_REVOKED,
    RegistrationStatus.CANCELLED,
}
NOT_OPERATING = {RegistrationStatus.SUSPENDED, RegistrationStatus.LIQUIDATING}


def terminated(facts: FactoryFacts, policy: Policy, today: date) -> list[Finding]:
    findings = []
    for answer, record in facts.registrations():
        status = policy_status(record, policy)
        if status in TERMINATED:
            findings.append(
                Finding(
                    "art12.2-terminated",
                    "12(2)",
                    Severity.REVOCATION,
                    Topic.REGISTRATION,
                    f"status:{status.value}",
                    "finding.terminated",
                    {"raw_status": record.raw_status},
                    evidence_of(answer, status=status.value, raw_status=record.raw_status),
                )
            )
    return findings


def not_operating(facts: FactoryFacts, policy: Policy, today: date) -> list[Finding]:
    findings = []
    for answer, record in facts.registrations():
        status = policy_status(record, policy)
        if status in NOT_OPERATING:
            findings.append(
                Finding(
                    "art12.2-not-operating",
                    "12(2)",
                    Severity.REVIEW,
                    Topic.REGISTRATION,
                    f"status:{status.value}",
                    "finding.not_operating_status",
                    {"raw_status": record.raw_status},
                    evidence_of(answer, status=status.value, raw_status=record.raw_status),
                )
            )
    for answer, credit in facts.credit():
        if credit.kind is CreditKind.ABNORMAL_OPERATION and credit.removed_on is None:
            findings.append(
                Finding(
                    "art12.2-not-operating",
                    "12(2)",
                    Severity.REVIEW,
                    Topic.CREDIT,
                    f"{answer.connector}:{credit.record_id}",
                    "finding.abnormal_operation",
                    {
                        "authority": credit.authority or "—",
                        "decided_on": str(credit.decided_on or "—"),
                        "reason": credit.reason or "—",
                    },
                    evidence_of(
                        answer,
                        record_id=credit.record_id,
                        decided_on=credit.decided_on,
                        authority=credit.authority,
                        reason=credit.reason,
                    ),
                    anchor="listing",
                )
            )
    return findings
