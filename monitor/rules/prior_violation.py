"""Article 5(3) for credit: a bad record in the years before the designation.

The conditions of designation (第五条第（三）项) include "近三年……无不良信用记录……无违法违规行为".
An administrative penalty decided in the window before the designation date, or a
serious-violation, abnormal-operation or dishonest-debtor listing that stood at any
time in that window, means the conditions may not have been met when the enterprise
applied: possibly false information (12(1)), for review. A record older than the
window bears on nothing, as for accidents. Each record is judged by the measures in
force on the day it was decided (their window), and is an event: it happened, whatever
the source lists later.
"""

from __future__ import annotations

from datetime import date

from connectors.base import CreditKind, CreditRecord
from monitor.rules import FactoryFacts, Finding, credit_evidence, credit_params, found
from monitor.rules.accident import years_before
from monitor.rules.policy import Measures

LISTINGS = {
    CreditKind.SERIOUS_VIOLATION,
    CreditKind.ABNORMAL_OPERATION,
    CreditKind.DISHONEST_DEBTOR,
}


def _in_window(record: CreditRecord, designated: date, window_start: date) -> bool:
    decided = record.decided_on
    if decided is None or decided >= designated:
        return False  # undated, or on or after the designation: not this rule's
    if record.kind is CreditKind.ADMINISTRATIVE_PENALTY:
        return decided >= window_start
    if record.kind in LISTINGS:
        # listed before the designation and still listed when the window began
        return record.removed_on is None or record.removed_on >= window_start
    return False


def prior_violations(facts: FactoryFacts, measures: Measures) -> list[Finding]:
    findings = []
    for answer, record in facts.credit():
        judge = measures.on(record.decided_on)
        window_start = years_before(facts.designated_on, judge.policy.prior_window_years)
        if not _in_window(record, facts.designated_on, window_start):
            continue
        findings.append(
            found(
                "art5.3-prior-violation",
                f"{answer.connector}:{record.record_id}",
                "finding.prior_violation",
                credit_params(record),
                credit_evidence(answer, record),
                anchor="event",
                judged_by=judge,
            )
        )
    return findings
