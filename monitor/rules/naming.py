"""Article 12, last paragraph: a renamed or restructured enterprise must apply for a name change.

《北京市智能工厂认定管理办法》第十二条：“基础级和先进级智能工厂所在企业发生更名、重组等重大调整的，
应向市经济和信息化局申请更名。”Until the change is recorded (`sfm factories rename`), the
rename is pending.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date

from monitor.rules import FactoryFacts, Finding, evidence_of, found
from monitor.rules.policy import Policy


def normalise_name(name: str) -> str:
    """Compare names as officials would: width, bracket style and spaces do not matter."""
    text = unicodedata.normalize("NFKC", name)  # full-width （） and letters → half-width
    text = text.replace("〔", "(").replace("〕", ")").replace("[", "(").replace("]", ")")
    return re.sub(r"\s+", "", text)


def rename_pending(facts: FactoryFacts, policy: Policy, today: date) -> list[Finding]:
    designated = normalise_name(facts.name)
    findings = []
    for answer, record in facts.registrations():
        registered = normalise_name(record.name)
        if registered != designated:
            findings.append(
                found(
                    "art12-rename-pending",
                    f"name:{registered}",
                    "finding.rename",
                    {"designated": facts.name, "registered": record.name},
                    evidence_of(
                        answer,
                        registered_name=record.name,
                        designated_name=facts.name,
                        former_names=record.former_names,
                    ),
                )
            )
    return findings


REORGANISED = ("合并", "分立")


def restructure_pending(facts: FactoryFacts, policy: Policy, today: date) -> list[Finding]:
    findings = []
    for answer, record in facts.registrations():
        # a registry that says the enterprise merged or split (in its status or the reason
        # given with it): that text is the evidence
        if any(word in record.raw_status for word in REORGANISED):
            findings.append(
                found(
                    "art12-restructure-pending",
                    f"reorganised:{record.raw_status}",
                    "finding.restructure_reported",
                    {"raw_status": record.raw_status},
                    evidence_of(answer, raw_status=record.raw_status),
                )
            )
    if not facts.baseline_entity_type:
        return findings
    for answer, record in facts.registrations():
        # compared as names are: "有限责任公司（自然人投资或控股）" is "…(…)"
        same = normalise_name(record.entity_type or "") == normalise_name(
            facts.baseline_entity_type
        )
        if record.entity_type and not same:
            findings.append(
                found(
                    "art12-restructure-pending",
                    f"entity_type:{facts.baseline_entity_type}->{record.entity_type}",
                    "finding.restructure",
                    {"before": facts.baseline_entity_type, "after": record.entity_type},
                    evidence_of(
                        answer, before=facts.baseline_entity_type, after=record.entity_type
                    ),
                )
            )
    return findings
