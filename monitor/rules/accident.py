"""Article 12(3): a major environmental, safety or quality accident.

《北京市智能工厂认定管理办法》第十二条（三）：发生重大环境、安全、质量事故的。
A *large* (较大) accident within the window is not a revocation ground but
bears on Article 5(3)'s conditions, so it is raised for review (12(5)).
"""

from __future__ import annotations

from datetime import date

from connectors.base import AccidentGrade, SafetyRecord, Topic
from monitor.rules import FactoryFacts, Finding, Severity, SourceAnswer, evidence_of
from monitor.rules.policy import Policy, Thresholds

SEVERE = {AccidentGrade.MAJOR, AccidentGrade.ESPECIALLY_MAJOR}


def _reaches(record: SafetyRecord, bounds: Thresholds) -> bool:
    pairs = [
        (record.deaths, bounds.deaths),
        (record.serious_injuries, bounds.serious_injuries),
        (record.evacuated, bounds.evacuated),
        (record.direct_loss_cny, bounds.direct_loss_cny),
    ]
    return any(value is not None and bound is not None and value >= bound for value, bound in pairs)


def grade(record: SafetyRecord, policy: Policy) -> tuple[AccidentGrade | None, bool]:
    """The accident's grade and whether sfm derived it (the provider gave none)."""
    if record.grade is not None:
        return record.grade, False
    grading = policy.grading(record.category.value)
    for level, bounds in (
        (AccidentGrade.ESPECIALLY_MAJOR, grading.especially_major),
        (AccidentGrade.MAJOR, grading.major),
        (AccidentGrade.LARGE, grading.large),
    ):
        if _reaches(record, bounds):
            return level, True
    has_figures = any(
        v is not None
        for v in (record.deaths, record.serious_injuries, record.evacuated, record.direct_loss_cny)
    )
    if has_figures and any((grading.large.deaths, grading.large.direct_loss_cny)):
        return AccidentGrade.GENERAL, True
    return None, False


def _finding(
    rule_id: str,
    clause: str,
    severity: Severity,
    answer: SourceAnswer,
    record: SafetyRecord,
    level: AccidentGrade,
    derived: bool,
) -> Finding:
    return Finding(
        rule_id,
        clause,
        severity,
        Topic.SAFETY,
        f"{answer.connector}:{record.record_id}",
        "finding.accident",
        {
            "occurred_on": str(record.occurred_on),
            "category": record.category.value,
            "grade": level.value,
            "summary": record.summary or "—",
            "deaths": record.deaths if record.deaths is not None else "—",
        },
        evidence_of(
            answer,
            record_id=record.record_id,
            occurred_on=record.occurred_on,
            category=record.category.value,
            grade=level.value,
            grade_derived=derived,
            deaths=record.deaths,
            serious_injuries=record.serious_injuries,
            evacuated=record.evacuated,
            direct_loss_cny=record.direct_loss_cny,
            summary=record.summary,
        ),
    )


def years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def major_accident(facts: FactoryFacts, policy: Policy, today: date) -> list[Finding]:
    findings = []
    for answer, record in facts.safety():
        level, derived = grade(record, policy)
        if level in SEVERE:
            assert level is not None
            findings.append(
                _finding(
                    "art12.3-major-accident",
                    "12(3)",
                    Severity.REVOCATION,
                    answer,
                    record,
                    level,
                    derived,
                )
            )
    return findings


def large_accident(facts: FactoryFacts, policy: Policy, today: date) -> list[Finding]:
    window_start = years_before(today, policy.large_accident_window_years)
    findings = []
    for answer, record in facts.safety():
        level, derived = grade(record, policy)
        if level is AccidentGrade.LARGE and record.occurred_on >= window_start:
            findings.append(
                _finding(
                    "art12.3-large-accident",
                    "5(3), 12(5)",
                    Severity.REVIEW,
                    answer,
                    record,
                    level,
                    derived,
                )
            )
    return findings
