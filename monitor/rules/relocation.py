"""Article 12(4): the registered address moved out of Beijing.

《北京市智能工厂认定管理办法》第十二条：“（四）注册地变更至京外。”

A credit code never changes, so its digits 3–8 say where the enterprise was
first registered, not where it is: they are never used here. What counts is
the current status (迁出), registration authority, domicile or division code.
A revocation needs a destination outside Beijing; 迁出 alone says the enterprise
left its registration authority, not where it went.
"""

from __future__ import annotations

from datetime import date

from connectors.base import RegistrationRecord
from monitor.codes import division_side
from monitor.rules import FactoryFacts, Finding, evidence_of, found, policy_status
from monitor.rules.places import place_of
from monitor.rules.policy import Policy
from monitor.vocabulary import RegistrationStatus


def _signs(record: RegistrationRecord, policy: Policy) -> tuple[dict[str, str], set[str], set[str]]:
    """Every sign of where the enterprise is registered now, and which say outside or Beijing."""
    signs: dict[str, str] = {}
    outside: set[str] = set()
    beijing: set[str] = set()
    if policy_status(record, policy) is RegistrationStatus.MOVED_OUT:
        signs["status"] = record.raw_status
    side = division_side(record.division_code)
    if record.division_code and side is not None:  # a national-level code names no place
        signs["division_code"] = record.division_code
        (beijing if side == "beijing" else outside).add("division_code")
    for field in ("registration_authority", "registered_address"):
        text = getattr(record, field)
        place = place_of(text)
        if place is None:
            continue
        signs[field] = text
        if place in ("outside", "both"):
            outside.add(field)
        if place in ("beijing", "both"):
            beijing.add(field)
    return signs, outside, beijing


def relocated(facts: FactoryFacts, policy: Policy, today: date) -> list[Finding]:
    """A destination outside Beijing is known and no sign says Beijing: a revocation case.
    A bare 迁出, or signs that disagree, are for someone to check."""
    findings = []
    for answer, record in facts.registrations():
        signs, outside, beijing = _signs(record, policy)
        moved_out = "status" in signs
        if outside and not beijing:
            destination = next(
                signs[field]
                for field in ("registration_authority", "registered_address", "division_code")
                if field in outside
            )
            findings.append(
                found(
                    "art12.4-relocated",
                    f"relocated:{destination}",
                    "finding.relocated",
                    {"destination": destination},
                    evidence_of(answer, **signs),
                )
            )
        elif moved_out or (outside and beijing):
            readings = {
                field: "京内外均有"
                if field in outside & beijing
                else ("京外" if field in outside else "北京")
                for field in outside | beijing
            }
            findings.append(
                found(
                    "art12.4-relocation-unconfirmed",
                    "unconfirmed:" + "|".join(f"{k}={signs[k]}" for k in sorted(signs)),
                    "finding.relocation_unconfirmed",
                    {"signs": "；".join(f"{signs[k]}" for k in sorted(signs))},
                    evidence_of(answer, **signs, readings=readings),
                )
            )
    return findings
