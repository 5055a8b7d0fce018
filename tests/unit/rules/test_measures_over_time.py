"""The measures over time (DESIGN §4): each fact judged by the measures in force when it
happened, a gap seen as one, overrides merged with the statute, and facts ending as they do."""

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from connectors.base import Topic
from monitor.config import load_config
from monitor.errors import ConfigError
from monitor.rules import FactoryFacts, SourceAnswer
from monitor.rules.accident import today_grade
from monitor.rules.endings import Ending, Unlisted, how_it_ended
from monitor.rules.policy import DEFAULT_POLICIES, Measures, Policy, measures_in_force
from tests.unit.rules.test_article12 import NOW, accident, credit, facts, fired, registration

SUCCESSOR = """
[policy."2025"]
title = "北京市智能工厂认定管理办法（京经信发〔2025〕22号）"
effective_from = 2025-04-29
expires_on = 2026-12-31

[policy."2027"]
title = "北京市智能工厂认定管理办法（2027）"
effective_from = {start}
expires_on = 2029-12-31
penalty_fine_threshold_cny = 100000
rules = {{ "art12.3-large-accident" = false }}

[policy."2027".production_safety.major]
deaths = 15
"""


def policies(tmp_path: Path, start: str = "2027-01-01") -> dict[str, Policy]:
    path = tmp_path / "sfm.toml"
    path.write_text(SUCCESSOR.format(start=start), encoding="utf-8")
    return load_config(path, environ={}).settings.policy


def judged(records: Any, measures: Measures) -> dict[str, Any]:
    return {f.rule_id: f for f in fired(*records, policy=measures)}


def test_an_accident_is_judged_by_the_measures_of_its_day_after_a_successor_starts(
    tmp_path: Path,
) -> None:
    ten_deaths = accident(deaths=10, occurred_on="2026-06-01")
    before = judged([ten_deaths], Measures(policies(tmp_path), date(2026, 12, 31)))
    after = judged([ten_deaths], Measures(policies(tmp_path), date(2027, 1, 1)))
    assert set(before) == set(after) == {"art12.3-major-accident"}
    finding = after["art12.3-major-accident"]
    assert finding.evidence["grade"] == "major" and finding.anchor == "event"
    assert finding.evidence["measures"] == "北京市智能工厂认定管理办法（京经信发〔2025〕22号）"
    # the same fact gives the same flag: no transition when the successor starts
    assert finding.evidence_key == before["art12.3-major-accident"].evidence_key
    # and the official sees how today's measures would grade it
    today = Measures(policies(tmp_path), date(2027, 1, 1)).now
    assert today.key == "2027"
    assert today_grade(finding.evidence, today) == "large"


def test_an_accident_after_the_successor_starts_is_judged_by_the_successor(
    tmp_path: Path,
) -> None:
    measures = Measures(policies(tmp_path), date(2027, 3, 1))
    ten_deaths = accident(deaths=10, occurred_on="2027-02-01")
    # 10 deaths is 较大 under the successor, whose switches turn the 较大 rule off
    assert judged([ten_deaths], measures) == {}
    fifteen = judged([accident(deaths=15, occurred_on="2027-02-01")], measures)
    assert fifteen["art12.3-major-accident"].evidence["measures_key"] == "2027"
    assert today_grade(fifteen["art12.3-major-accident"].evidence, measures.now) is None


def test_a_rule_the_successor_switches_off_still_judges_the_past(tmp_path: Path) -> None:
    five_deaths = accident(deaths=5, occurred_on="2026-06-01")
    found = judged([five_deaths], Measures(policies(tmp_path), date(2027, 1, 1)))
    assert set(found) == {"art12.3-large-accident"}


def test_a_penalty_is_judged_by_the_threshold_of_its_day(tmp_path: Path) -> None:
    fine = credit(decided_on="2026-07-01", fine_cny=50_000, document_no="京罚〔2026〕1号")
    later = credit(record_id="C2", decided_on="2027-01-10", fine_cny=50_000)
    measures = Measures(policies(tmp_path), date(2027, 1, 20))
    found = fired(fine, later, policy=measures)
    assert [f.evidence["record_id"] for f in found] == ["C1"]
    assert found[0].anchor == "event" and found[0].evidence["measures_key"] == "2025"


def test_a_listing_is_a_state_judged_today(tmp_path: Path) -> None:
    listing = credit(kind="serious_violation", decided_on="2026-05-01")
    [finding] = fired(listing, policy=Measures(policies(tmp_path), date(2027, 1, 2)))
    assert finding.anchor == "listing" and finding.evidence["measures_key"] == "2027"


def test_a_gap_between_measures_keeps_the_expired_ones_and_says_so(tmp_path: Path) -> None:
    configured = policies(tmp_path, start="2027-02-01")
    last_day = measures_in_force(configured, date(2026, 12, 31))
    in_gap = measures_in_force(configured, date(2027, 1, 15))
    successor = measures_in_force(configured, date(2027, 2, 1))
    assert (last_day.key, last_day.expired, last_day.days_left) == ("2025", False, 0)
    assert (in_gap.key, in_gap.expired, in_gap.days_left) == ("2025", True, None)
    assert (successor.key, successor.expired) == ("2027", False)


def test_expired_with_no_successor() -> None:
    choice = measures_in_force(DEFAULT_POLICIES, date(2027, 1, 1))
    assert (choice.key, choice.expired, choice.days_left) == ("2025", True, None)
    assert measures_in_force(DEFAULT_POLICIES, date(2026, 12, 1)).days_left == 30


OVERRIDE = """
[policy."2025"]
title = "2025"
effective_from = 2025-04-29
expires_on = 2026-12-31

[policy."2025".environmental.major]
deaths = 10
"""


def test_an_override_changes_only_the_keys_it_names(tmp_path: Path) -> None:
    path = tmp_path / "sfm.toml"
    path.write_text(OVERRIDE, encoding="utf-8")
    policy = load_config(path, environ={}).settings.policy["2025"]
    assert policy.environmental == DEFAULT_POLICIES["2025"].environmental
    assert policy.production_safety == DEFAULT_POLICIES["2025"].production_safety

    def grade_of(**figures: Any) -> str:
        record = accident(category="environmental", occurred_on="2026-06-01", **figures)
        [finding] = fired(record, policy=policy)
        return str(finding.evidence["grade"])

    assert grade_of(evacuated=10_000) == "major"
    assert grade_of(direct_loss_cny=25_000_000) == "major"
    assert grade_of(evacuated=50_000) == "especially_major"
    assert grade_of(evacuated=5_000) == "large"


@pytest.mark.parametrize("category", ["production_safety", "environmental", "quality"])
def test_a_partial_override_in_each_category_keeps_the_statute_elsewhere(category: str) -> None:
    policy = Policy.model_validate(
        {"title": "x", "effective_from": "2025-01-01", category: {"large": {"deaths": 4}}}
    )
    statute = DEFAULT_POLICIES["2025"]
    changed = policy.grading(category)
    assert changed.large.deaths == 4
    assert changed.major == statute.grading(category).major
    assert changed.especially_major == statute.grading(category).especially_major
    for other in {"production_safety", "environmental", "quality"} - {category}:
        assert policy.grading(other) == statute.grading(other)


def test_a_bad_override_is_a_config_error_naming_the_key(tmp_path: Path) -> None:
    path = tmp_path / "sfm.toml"
    path.write_text(OVERRIDE.replace("deaths = 10", "deaths = -1\nbodies = 3"), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"policy\.2025\.environmental\.major\.bodies"):
        load_config(path, environ={})


# -- how facts end -----------------------------------------------------------------


def ending(rule_id: str, anchor: str, topic: str, key: str, now: FactoryFacts) -> Any:
    return how_it_ended(rule_id, anchor, topic, key, now, DEFAULT_POLICIES["2025"])


def test_an_accident_its_source_stops_listing_stays_unlisted() -> None:
    answered_empty = FactoryFacts(
        "91110000600037341L",
        "x",
        date(2025, 6, 30),
        None,
        (SourceAnswer("src0", Topic.SAFETY, "found", (), NOW, 1),),
    )
    assert isinstance(
        ending("art12.3-major-accident", "event", "safety", "src0:S1", answered_empty), Unlisted
    )
    corrected = facts(accident(grade="general", deaths=0))
    assert ending("art12.3-major-accident", "event", "safety", "src0:S1", corrected) == Ending(
        "ended.accident_corrected", {"grade": "general"}
    )


def test_a_lifted_listing_ends_by_its_removal_date_or_its_disappearance() -> None:
    removed = facts(credit(kind="dishonest_debtor", removed_on="2027-01-05"))
    assert ending("art12.5-penalty", "listing", "credit", "src0:C1", removed) == Ending(
        "ended.listing_removed", {"removed_on": "2027-01-05"}
    )
    gone = facts(credit(record_id="other", kind="dishonest_debtor"))
    assert ending("art12.5-penalty", "listing", "credit", "src0:C1", gone) == Ending(
        "ended.listing_gone"
    )
    still = facts(credit(kind="dishonest_debtor"))
    assert ending("art12.5-penalty", "listing", "credit", "src0:C1", still) is None


def test_a_state_ends_only_when_the_source_reports_another() -> None:
    active = facts(registration(raw_status="存续"))
    assert ending("art12.2-terminated", "state", "registration", "status:deregistered", active) == (
        Ending("ended.status_now", {"raw_status": "存续"})
    )
    still = facts(registration(raw_status="注销"))
    assert (
        ending("art12.2-terminated", "state", "registration", "status:deregistered", still) is None
    )


def test_a_penalty_today_s_threshold_would_not_review_is_shown_beside_its_flag(
    tmp_path: Path,
) -> None:
    from datetime import UTC, datetime

    from monitor.alerts.context import flag_evidence
    from monitor.i18n import using_language
    from monitor.storage.models import Flag

    configured = policies(tmp_path)
    [finding] = fired(
        credit(decided_on="2026-07-01", fine_cny=50_000),
        policy=Measures(configured, date(2026, 12, 1)),
    )
    moment = datetime(2026, 12, 1, tzinfo=UTC)
    flag = Flag(
        rule_id=finding.rule_id,
        clause=finding.clause,
        severity=finding.severity.value,
        factory_id=1,
        evidence_key=finding.evidence_key,
        state="open",
        summary_key=finding.summary_key,
        evidence=finding.evidence,
        fingerprint="f",
        first_seen_at=moment,
        last_seen_at=moment,
        state_changed_at=moment,
    )
    with using_language("zh"):
        before = flag_evidence(flag, measures_in_force(configured, date(2026, 12, 1)))
        after = flag_evidence(flag, measures_in_force(configured, date(2027, 1, 2)))
    assert "graded_today" not in before
    assert "100,000 元以上才需复核" in after["graded_today"]


def test_a_registry_that_now_finds_nothing_ends_no_state() -> None:
    nothing = FactoryFacts(
        "91110000600037341L",
        "x",
        date(2025, 6, 30),
        None,
        (SourceAnswer("src0", Topic.REGISTRATION, "not_found", (), NOW, 1),),
    )
    for rule, key in (
        ("art12.4-relocated", "relocated:河北省廊坊市市场监督管理局"),
        ("art12.2-terminated", "status:deregistered"),
        ("register-district-changed", "district:110114"),
    ):
        assert ending(rule, "state", "registration", key, nothing) is None
    moved_back = facts(registration())
    assert (
        ending(
            "register-district-changed", "state", "registration", "district:110114", moved_back
        ).key
        == "ended.seat_now"
    )
