"""Article 12(5): other violations penalised by the authorities, no longer meeting the conditions.

《北京市智能工厂认定管理办法》第十二条：“（五）有其他违法、违规行为受到有关部门处罚不再符合认定条件的。”

Whether a penalty means the conditions are no longer met is a judgement, so
these are raised for review, never as revocations. A penalty decided before
the designation was the designation's business, not this clause's; a listing
counts while it stands, and once removed raises nothing.

A penalty decision is an event, judged by the measures in force on the day it was
decided (their fine threshold); a listing is a standing status, judged by today's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connectors.base import CreditKind, CreditRecord
from monitor.rules import Anchor, FactoryFacts, Finding, credit_evidence, credit_params, found
from monitor.rules.policy import Measures, PolicyChoice

LISTINGS = {CreditKind.SERIOUS_VIOLATION, CreditKind.DISHONEST_DEBTOR}


def penalised(facts: FactoryFacts, measures: Measures) -> list[Finding]:
    findings = []
    for answer, record in facts.credit():
        judge = measures.now
        anchor: Anchor = "listing"
        if record.kind in LISTINGS:
            if record.removed_on is not None:
                continue  # off the list again
        elif record.kind is CreditKind.ADMINISTRATIVE_PENALTY:
            if record.decided_on is not None and record.decided_on < facts.designated_on:
                continue
            judge, anchor = measures.on(record.decided_on), "event"
            threshold = judge.policy.penalty_fine_threshold_cny
            # a fine below the threshold is not reviewed; an unknown fine always is
            if threshold > 0 and record.fine_cny is not None and record.fine_cny < threshold:
                continue
        else:
            continue
        findings.append(
            found(
                "art12.5-penalty",
                f"{answer.connector}:{record.record_id}",
                _summary_key(record),
                credit_params(record),
                credit_evidence(answer, record),
                anchor=anchor,
                judged_by=judge,
            )
        )
    return findings


def today_threshold(evidence: Mapping[str, Any], today: PolicyChoice) -> float | None:
    """The fine threshold of today's measures, when it would leave unreviewed a penalty its
    own measures reviewed; None otherwise (or when the evidence is not a penalty's)."""
    if evidence.get("kind") != CreditKind.ADMINISTRATIVE_PENALTY.value:
        return None
    if evidence.get("measures_key") in (None, today.key):
        return None
    threshold = today.policy.penalty_fine_threshold_cny
    fine = evidence.get("fine_cny")
    if threshold > 0 and isinstance(fine, int | float) and fine < threshold:
        return threshold
    return None


def _summary_key(record: CreditRecord) -> str:
    if record.kind is not CreditKind.ADMINISTRATIVE_PENALTY:
        return "finding.listing"
    return "finding.penalty" if record.fine_cny is not None else "finding.penalty_fine_unknown"
