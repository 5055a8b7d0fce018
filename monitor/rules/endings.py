"""How a flag's fact ended, as the data now shows it (DESIGN §4, "How facts end").

When a sweep no longer finds what a flag rests on, this says in words an official
reads what the sources show now ("数据源显示该企业登记状态已恢复为存续"), or that
nothing has ended:

- an **event** (an accident, a penalty decision) does not un-happen: a source that
  stops listing it ends nothing (the flag stays; `Unlisted`); a source that still
  lists it, corrected, does;
- a **listing** is lifted by a removal date, or by its disappearance from the
  source (many list only current entries);
- a **state** ends when the source reports another one; a change of measures alone
  (a rule switched off, a status mapped otherwise) ends nothing.

Pure: no I/O, like every rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from connectors.base import CreditRecord, SafetyRecord, Topic
from monitor.rules import FactoryFacts, policy_status
from monitor.rules.naming import normalise_name
from monitor.rules.policy import Policy


@dataclass(frozen=True)
class Ending:
    """The fact ended: `key` names the catalogue's words (audit.reason.ended.*)."""

    key: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Unlisted:
    """An event's record the source no longer lists: the flag stays as it is."""


Outcome = Ending | Unlisted | None  # None: the fact has not ended; the flag stays


def _record(facts: FactoryFacts, evidence_key: str) -> CreditRecord | SafetyRecord | None:
    connector, _, record_id = evidence_key.partition(":")
    for answer in facts.answers:
        if answer.connector != connector or answer.outcome != "found":
            continue
        for record in answer.records:
            if isinstance(record, CreditRecord | SafetyRecord) and record.record_id == record_id:
                return record
    return None


def _answered(facts: FactoryFacts, evidence_key: str) -> bool:
    connector = evidence_key.partition(":")[0]
    return any(a.connector == connector and a.outcome != "error" for a in facts.answers)


def _event(facts: FactoryFacts, evidence_key: str) -> Outcome:
    record = _record(facts, evidence_key)
    if record is None:
        return Unlisted() if _answered(facts, evidence_key) else None
    if isinstance(record, SafetyRecord):
        grade = record.grade.value if record.grade else None
        return Ending("ended.accident_corrected", {"grade": grade or "—"})
    if record.removed_on is not None:  # a penalty that stopped operation, lifted or run out
        return Ending("ended.penalty_lifted", {"removed_on": str(record.removed_on)})
    return Ending("ended.record_corrected", {"decided_on": str(record.decided_on or "—")})


def _listing(facts: FactoryFacts, evidence_key: str) -> Outcome:
    record = _record(facts, evidence_key)
    if record is None:
        return Ending("ended.listing_gone") if _answered(facts, evidence_key) else None
    if isinstance(record, CreditRecord) and record.removed_on is not None:
        return Ending("ended.listing_removed", {"removed_on": str(record.removed_on)})
    return None  # still listed: nothing ended (a rule switched off ends nothing)


def _state(rule_id: str, evidence_key: str, facts: FactoryFacts, policy: Policy) -> Outcome:
    registrations = list(facts.registrations())
    kind, _, value = evidence_key.partition(":")
    if rule_id == "data-not-found":
        return Ending("ended.found") if registrations else None
    if not registrations:
        return None  # the registry reports nothing now (not found): nothing it showed ended
    record = registrations[0][1]
    if kind in ("status", "reorganised"):
        statuses = {policy_status(r, policy).value for _, r in registrations}
        raw = {r.raw_status for _, r in registrations}
        if value in statuses or value in raw:
            return None
        return Ending("ended.status_now", {"raw_status": record.raw_status or "—"})
    if kind == "name":
        if any(normalise_name(r.name) == value for _, r in registrations):
            return None
        return Ending("ended.name_now", {"name": record.name or "—"})
    if kind == "entity_type":
        return Ending("ended.entity_type_now", {"entity_type": record.entity_type or "—"})
    if kind in ("relocated", "unconfirmed", "district"):
        return Ending(
            "ended.seat_now",
            {
                "authority": record.registration_authority or "—",
                "address": record.registered_address or "—",
            },
        )
    return Ending("ended.value_changed")


def how_it_ended(
    rule_id: str,
    anchor: str,
    topic: str | None,
    evidence_key: str,
    facts: FactoryFacts,
    today: Policy,
) -> Outcome:
    """What the sources now show of a flag whose finding this sweep did not make."""
    if anchor == "event":
        return _event(facts, evidence_key)
    if anchor == "listing":
        return _listing(facts, evidence_key)
    if topic != Topic.REGISTRATION.value and rule_id != "data-unknown-value":
        return Ending("ended.value_changed")
    return _state(rule_id, evidence_key, facts, today)
