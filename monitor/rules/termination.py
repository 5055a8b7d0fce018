"""Article 12(2): the enterprise is terminated by law, or cannot operate normally.

《北京市智能工厂认定管理办法》第十二条：“有下列情况之一的，撤销其称号：（二）被依法终止或无法正常经营。”

Terminated: the registration status says so. Cannot operate: a status of
suspension or liquidation, a standing abnormal-operation listing, or a penalty
that stops operation while it applies.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date

from connectors.base import CreditKind, CreditRecord
from monitor.rules import (
    FactoryFacts,
    Finding,
    credit_evidence,
    credit_params,
    evidence_of,
    found,
    policy_status,
)
from monitor.rules.policy import Policy
from monitor.vocabulary import RegistrationStatus

TERMINATED = {
    RegistrationStatus.DEREGISTERED,
    RegistrationStatus.LICENSE_REVOKED,
    RegistrationStatus.CANCELLED,
}
NOT_OPERATING = {RegistrationStatus.SUSPENDED, RegistrationStatus.LIQUIDATING}
# Penalties that stop an enterprise operating (Administrative Penalty Law, art. 9 (4) and
# (5)), read in the penalty's own words while it applies: "吊销安全生产许可证" too.
STOPPING_PENALTIES = re.compile(
    r"责令(?:停产停业|停产|停业|关闭)"
    r"|(?:吊销|暂扣)[^，,。；;]{0,12}(?:许可证|执照)"
    r"|限制(?:开展)?生产经营活动"
)


def normalise_text(text: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))


def stops_operation(record: CreditRecord, today: date) -> bool:
    """A penalty that stops the enterprise operating, not yet lifted or run out."""
    if record.kind is not CreditKind.ADMINISTRATIVE_PENALTY:
        return False
    if record.removed_on is not None and record.removed_on <= today:
        return False
    words = normalise_text(" ".join(filter(None, (record.reason, record.document_no))))
    return STOPPING_PENALTIES.search(words) is not None


def terminated(facts: FactoryFacts, policy: Policy, today: date) -> list[Finding]:
    findings = []
    for answer, record in facts.registrations():
        status = policy_status(record, policy)
        if status in TERMINATED:
            findings.append(
                found(
                    "art12.2-terminated",
                    f"status:{status.value}",
                    "finding.terminated",
                    {"raw_status": record.raw_status, "registration_status": status.value},
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
                found(
                    "art12.2-not-operating",
                    f"status:{status.value}",
                    "finding.not_operating_status",
                    {"raw_status": record.raw_status},
                    evidence_of(answer, status=status.value, raw_status=record.raw_status),
                )
            )
    for answer, credit in facts.credit():
        if stops_operation(credit, today):
            findings.append(
                found(
                    "art12.2-not-operating",
                    f"{answer.connector}:{credit.record_id}",
                    "finding.stopped_by_penalty",
                    credit_params(credit),
                    credit_evidence(answer, credit),
                    anchor="event",  # the decision happened; its lifting ends the flag
                )
            )
        if credit.kind is CreditKind.ABNORMAL_OPERATION and credit.removed_on is None:
            findings.append(
                found(
                    "art12.2-not-operating",
                    f"{answer.connector}:{credit.record_id}",
                    "finding.abnormal_operation",
                    credit_params(credit),
                    credit_evidence(answer, credit),
                    anchor="listing",
                )
            )
    return findings
