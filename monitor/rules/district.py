"""Article 4: a basic-level factory is filed with and managed by its district.

《北京市智能工厂认定管理办法》第四条：“基础级智能工厂由企业对照要素条件自建自评，各区经济和信息化
主管部门（以下简称区主管部门）备案和管理。”

When the registration authority, the division code or the domicile names another
Beijing district than the designation's, and no sign names the designation's own,
the enterprise has moved inside Beijing: an action for staff, who record the move
(`sfm factories move`) so that routing, scope and the Article 6 filings follow it.
北京经济技术开发区 (110302) is a district of its own here: 大兴 ↔ 经开区 is a move.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from connectors.base import RegistrationRecord
from monitor.codes import DISTRICTS_BY_CODE, RETIRED_CODES, division_side
from monitor.rules import FactoryFacts, Finding, evidence_of, found
from monitor.rules.places import leading_sequence
from monitor.rules.policy import Policy

_BY_NAME = {district.name: code for code, district in DISTRICTS_BY_CODE.items()}
_WORDS = {"北京经济技术开发区": "110302", "亦庄": "110302"}


def _district_of_code(code: str | None) -> str | None:
    if not code or division_side(code) != "beijing":
        return None
    six = RETIRED_CODES.get(code[:6], code[:6])
    return six if six in DISTRICTS_BY_CODE else None


def _district_of_text(text: str | None) -> str | None:
    """The Beijing district a text's leading places name, if exactly one and unambiguous."""
    if not text:
        return None
    named = {
        _BY_NAME.get(name) or _WORDS.get(name)
        for name, sides in leading_sequence(text)
        if sides == {"beijing"}
    } - {None}
    return named.pop() if len(named) == 1 else None


def districts_named(record: RegistrationRecord) -> dict[str, str]:
    """Each sign of the enterprise's seat that names a Beijing district: sign → district."""
    named = {
        "division_code": _district_of_code(record.division_code),
        "registration_authority": _district_of_text(record.registration_authority),
        "registered_address": _district_of_text(record.registered_address),
    }
    return {sign: code for sign, code in named.items() if code}


def _names(codes: Iterable[str]) -> str:
    return "、".join(DISTRICTS_BY_CODE[code].name for code in codes)


def district_changed(facts: FactoryFacts, policy: Policy, today: date) -> list[Finding]:
    if not facts.districts:
        return []
    findings = []
    for answer, record in facts.registrations():
        named = districts_named(record)
        if not named or set(named.values()) & set(facts.districts):
            continue  # no district named, or a sign still names the designation's own
        new = sorted(set(named.values()))
        findings.append(
            found(
                "register-district-changed",
                "district:" + ",".join(new),
                "finding.district_changed",
                {"designated": _names(facts.districts), "named": _names(new)},
                evidence_of(
                    answer,
                    designated_district=_names(facts.districts),
                    named_district=_names(new),
                    new_districts=new,  # for routing: the new district hears of it too
                    **{sign: getattr(record, sign) for sign in named},
                ),
            )
        )
    return findings
