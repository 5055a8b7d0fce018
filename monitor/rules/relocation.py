"""Article 12(4): the registered address moved out of Beijing.

《北京市智能工厂认定管理办法》第十二条（四）：企业注册地址迁出北京市的。

A credit code never changes, so its digits 3–8 say where the enterprise was
first registered, not where it is: they are never used here. What counts is
the current status (迁出), registration authority, domicile or division code.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date

from connectors.base import Topic
from monitor.codes import DISTRICTS, is_beijing_division
from monitor.rules import FactoryFacts, Finding, Severity, evidence_of, policy_status
from monitor.rules.policy import Policy
from monitor.vocabulary import RegistrationStatus

OTHER_PROVINCES = (
    "天津",
    "河北",
    "山西",
    "内蒙古",
    "辽宁",
    "吉林",
    "黑龙江",
    "上海",
    "江苏",
    "浙江",
    "安徽",
    "福建",
    "江西",
    "山东",
    "河南",
    "湖北",
    "湖南",
    "广东",
    "广西",
    "海南",
    "重庆",
    "四川",
    "贵州",
    "云南",
    "西藏",
    "陕西",
    "甘肃",
    "青海",
    "宁夏",
    "新疆",
    "香港",
    "澳门",
    "台湾",
)
_BEIJING_PLACES = ("北京", *(d.name for d in DISTRICTS), "经济技术开发区", "亦庄")


def place_of(text: str | None) -> str | None:
    """'beijing', 'elsewhere', or None when the text does not say (an authority of the State)."""
    if not text:
        return None
    normal = re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))
    if normal.startswith(OTHER_PROVINCES):
        return "elsewhere"
    if any(normal.startswith(place) for place in _BEIJING_PLACES):
        return "beijing"
    return None


def relocated(facts: FactoryFacts, policy: Policy, today: date) -> list[Finding]:
    findings = []
    for answer, record in facts.registrations():
        signs: dict[str, str] = {}
        if policy_status(record, policy) is RegistrationStatus.MOVED_OUT:
            signs["status"] = record.raw_status
        if record.division_code and not is_beijing_division(record.division_code):
            signs["division_code"] = record.division_code
        if place_of(record.registration_authority) == "elsewhere":
            signs["registration_authority"] = record.registration_authority or ""
        if place_of(record.registered_address) == "elsewhere":
            signs["registered_address"] = record.registered_address or ""
        if not signs:
            continue
        # Where it went, when known, is the evidence; a bare 迁出 is evidence too.
        destination = (
            signs.get("registration_authority")
            or signs.get("division_code")
            or signs.get("registered_address")
            or "moved_out"
        )
        findings.append(
            Finding(
                "art12.4-relocated",
                "12(4)",
                Severity.REVOCATION,
                Topic.REGISTRATION,
                f"relocated:{destination}",
                "finding.relocated",
                {"destination": destination if destination != "moved_out" else record.raw_status},
                evidence_of(answer, **signs),
            )
        )
    return findings
