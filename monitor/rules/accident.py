"""Article 12(3), and Article 5(3) for accidents before the designation.

《北京市智能工厂认定管理办法》第十二条：“（三）发生重大环保、安全、质量事故。”
第五条：“（三）企业近三年经营和财务状况良好，无不良信用记录、无较大及以上安全、环保等事故，
无违法违规行为。”

An accident counts under 12(3) only if it happened while the factory was
designated. One of grade 较大 or worse in the three years before the designation
date means the conditions of 5(3) were not met when it applied: possible false
information (12(1)), for review. An older accident bears on neither.

The effective grade is the more severe of the provider's grade and the grade
its figures reach, so a "一般" with 12 deaths is major; the evidence shows both.
Quality accidents have no statutory casualty grading: without a provider
grade they are graded by analogy with Decree 493, and raised for review only.

An accident is an event: it is judged by the measures in force on the day it
occurred, whatever came after (`today_grade` tells how today's would grade it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from connectors.base import AccidentGrade, SafetyCategory, SafetyRecord
from monitor.rules import FactoryFacts, Finding, Severity, SourceAnswer, evidence_of, found
from monitor.rules.policy import Grading, Measures, Policy, PolicyChoice, Thresholds

ORDER = [
    AccidentGrade.GENERAL,
    AccidentGrade.LARGE,
    AccidentGrade.MAJOR,
    AccidentGrade.ESPECIALLY_MAJOR,
]
SEVERE = {AccidentGrade.MAJOR, AccidentGrade.ESPECIALLY_MAJOR}


@dataclass(frozen=True)
class Graded:
    effective: AccidentGrade | None  # None: neither a grade nor figures
    provider: AccidentGrade | None
    derived: AccidentGrade | None
    by_analogy: bool  # derived with Decree 493's thresholds for want of the category's own


FIGURES = ("deaths", "serious_injuries", "evacuated", "direct_loss_cny")
Figures = list[float | int | None]


def _figures(record: SafetyRecord) -> Figures:
    return [getattr(record, name) for name in FIGURES]


def _reaches(figures: Figures, bounds: Thresholds) -> bool:
    pairs = zip(
        figures,
        [bounds.deaths, bounds.serious_injuries, bounds.evacuated, bounds.direct_loss_cny],
        strict=True,
    )
    return any(value is not None and bound is not None and value >= bound for value, bound in pairs)


def _has_thresholds(grading: Grading) -> bool:
    return any(_figures_of(t) for t in (grading.especially_major, grading.major, grading.large))


def _figures_of(bounds: Thresholds) -> bool:
    return any(
        v is not None
        for v in (bounds.deaths, bounds.serious_injuries, bounds.evacuated, bounds.direct_loss_cny)
    )


def grade(record: SafetyRecord, policy: Policy) -> Graded:
    """The provider's grade, the one its figures reach, and the more severe of the two."""
    provider = record.grade if record.grade not in (None, AccidentGrade.UNKNOWN) else None
    return _graded(record.category, provider, _figures(record), policy)


def _graded(
    category: SafetyCategory, provider: AccidentGrade | None, figures: Figures, policy: Policy
) -> Graded:
    known = category is not SafetyCategory.UNKNOWN
    grading = policy.grading(category.value) if known else policy.production_safety
    by_analogy = not _has_thresholds(grading)
    if by_analogy:
        grading = policy.production_safety
    derived = None
    if any(value is not None for value in figures):
        derived = AccidentGrade.GENERAL
        for level, bounds in (
            (AccidentGrade.ESPECIALLY_MAJOR, grading.especially_major),
            (AccidentGrade.MAJOR, grading.major),
            (AccidentGrade.LARGE, grading.large),
        ):
            if _reaches(figures, bounds):
                derived = level
                break
    candidates = [g for g in (provider, derived) if g is not None]
    effective = max(candidates, key=ORDER.index) if candidates else None
    return Graded(effective, provider, derived, by_analogy and derived is not None)


def today_grade(evidence: Mapping[str, Any], today: PolicyChoice) -> str | None:
    """How the measures in force today would grade the accident a flag's evidence records,
    when that differs from the grade its own measures gave; None when it does not (or the
    evidence is not an accident's)."""
    if "category" not in evidence or "grade" not in evidence:
        return None
    if evidence.get("measures_key") in (None, today.key):
        return None
    try:
        category = SafetyCategory(evidence["category"])
        provider = evidence.get("provider_grade")
        graded = _graded(
            category,
            AccidentGrade(provider) if provider else None,
            [evidence.get(name) for name in FIGURES],
            today.policy,
        )
    except ValueError:
        return None
    if graded.effective is None or graded.effective.value == evidence["grade"]:
        return None
    return graded.effective.value


def years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def _finding(
    rule_id: str,
    answer: SourceAnswer,
    record: SafetyRecord,
    graded: Graded,
    judge: PolicyChoice,
    summary_key: str = "finding.accident",
    severity: Severity | None = None,
) -> Finding:
    assert graded.effective is not None
    return found(
        rule_id,
        f"{answer.connector}:{record.record_id}",
        summary_key,
        {
            "occurred_on": str(record.occurred_on),
            "category": record.category.value,
            "grade": graded.effective.value,
            "summary": record.summary or "—",
            "deaths": record.deaths if record.deaths is not None else "—",
        },
        evidence_of(
            answer,
            record_id=record.record_id,
            occurred_on=record.occurred_on,
            category=record.category.value,
            grade=graded.effective.value,
            provider_grade=graded.provider.value if graded.provider else None,
            derived_grade=graded.derived.value if graded.derived else None,
            graded_by_analogy="国务院令第493号" if graded.by_analogy else None,
            deaths=record.deaths,
            serious_injuries=record.serious_injuries,
            evacuated=record.evacuated,
            direct_loss_cny=record.direct_loss_cny,
            summary=record.summary,
        ),
        severity=severity,
        anchor="event",
        judged_by=judge,
    )


def accidents(facts: FactoryFacts, measures: Measures) -> list[Finding]:
    """12(3) while designated; 5(3) in the window before; ungraded records for a person.
    Each accident is judged by the measures in force on the day it occurred."""
    findings = []
    for answer, record in facts.safety():
        if record.occurred_on is None:
            continue  # its date could not be read: a data-unknown-value review says so
        judge = measures.on(record.occurred_on)
        policy = judge.policy
        window_start = years_before(facts.designated_on, policy.prior_window_years)
        if record.occurred_on < window_start:
            continue  # before the window of Article 5(3): it bears on nothing
        graded = grade(record, policy)
        if graded.effective is None:
            findings.append(_ungraded(answer, record, judge))
            continue
        designated = record.occurred_on >= facts.designated_on
        if designated and graded.effective in SEVERE:
            # 重大 only by analogy with Decree 493 (a quality accident beyond its provider's
            # grade): a person decides whether it is 重大, never the figures alone
            by_analogy_only = graded.by_analogy and graded.provider not in SEVERE
            severity = Severity.REVIEW if by_analogy_only else Severity.REVOCATION
            findings.append(
                _finding("art12.3-major-accident", answer, record, graded, judge, severity=severity)
            )
        elif designated and graded.effective is AccidentGrade.LARGE:
            findings.append(
                _finding(
                    "art12.3-large-accident",
                    answer,
                    record,
                    graded,
                    judge,
                )
            )
        elif not designated and graded.effective is not AccidentGrade.GENERAL:
            findings.append(
                _finding(
                    "art5.3-prior-accident",
                    answer,
                    record,
                    graded,
                    judge,
                    "finding.prior_accident",
                )
            )
    return findings


def _ungraded(answer: SourceAnswer, record: SafetyRecord, judge: PolicyChoice) -> Finding:
    return found(
        "data-ungraded-accident",
        f"{answer.connector}:{record.record_id}",
        "finding.ungraded_accident",
        {
            "occurred_on": str(record.occurred_on),
            "category": record.category.value,
            "summary": record.summary or "—",
        },
        evidence_of(
            answer,
            record_id=record.record_id,
            occurred_on=record.occurred_on,
            category=record.category.value,
            summary=record.summary,
        ),
        anchor="event",
        judged_by=judge,
    )
