"""Every Article 12 trigger: a case that fires and a near miss that does not."""

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from connectors.base import (
    CreditRecord,
    RegistrationRecord,
    SafetyRecord,
    Topic,
    parse_grade,
)
from monitor.config import load_config
from monitor.errors import ConfigError
from monitor.rules import FactoryFacts, Finding, Severity, SourceAnswer, evaluate
from monitor.rules.policy import DEFAULT_POLICIES, Measures, measures_in_force

NOW = datetime(2026, 11, 25, tzinfo=UTC)
TODAY = date(2026, 11, 25)
POLICY = DEFAULT_POLICIES["2025"]
NAME = "北京测试智能装备有限公司"


def registration(**fields: Any) -> RegistrationRecord:
    data: dict[str, Any] = {
        "source": "registry",
        "fetched_at": NOW,
        "credit_code": "91110000600037341L",
        "name": NAME,
        "raw_status": "存续（在营、开业、在册）",
        "registration_authority": "北京市海淀区市场监督管理局",
        "division_code": "110108",
        "registered_address": "北京市海淀区上地十街1号",
        "entity_type": "有限责任公司",
    }
    data.update(fields)
    return RegistrationRecord.model_validate(data)


def credit(**fields: Any) -> CreditRecord:
    return CreditRecord.model_validate(
        {
            "source": "credit",
            "fetched_at": NOW,
            "record_id": "C1",
            "kind": "administrative_penalty",
            **fields,
        }
    )


def accident(**fields: Any) -> SafetyRecord:
    return SafetyRecord.model_validate(
        {
            "source": "safety",
            "fetched_at": NOW,
            "record_id": "S1",
            "category": "production_safety",
            "occurred_on": "2026-06-01",
            **fields,
        }
    )


def facts(
    *records: Any, outcome: str = "found", baseline: str | None = "有限责任公司", name: str = NAME
) -> FactoryFacts:
    answers = []
    for index, record in enumerate(records):
        topic = record.topic if outcome == "found" else record
        answers.append(
            SourceAnswer(
                connector=f"src{index}",
                topic=topic,
                outcome=outcome,  # type: ignore[arg-type]
                records=(record,) if outcome == "found" else (),
                observed_at=NOW,
                observation_id=index + 1,
            )
        )
    return FactoryFacts("91110000600037341L", name, date(2025, 6, 30), baseline, tuple(answers))


def fired(*records: Any, policy: Any = POLICY, today: date = TODAY, **kwargs: Any) -> list[Finding]:
    measures = policy if isinstance(policy, Measures) else Measures.only(policy, today)
    return evaluate(facts(*records, **kwargs), measures)


def rules(findings: list[Finding]) -> set[str]:
    return {finding.rule_id for finding in findings}


def test_an_ordinary_active_factory_raises_nothing() -> None:
    assert (
        fired(
            registration(),
            credit(kind="abnormal_operation", removed_on="2026-01-01"),
            accident(grade="general"),
        )
        == []
    )


@pytest.mark.parametrize("raw", ["注销", "吊销，未注销", "吊销，已注销", "吊销", "撤销"])
def test_terminated_is_a_revocation(raw: str) -> None:
    [finding] = fired(registration(raw_status=raw))
    assert (finding.rule_id, finding.severity, finding.clause) == (
        "art12.2-terminated",
        Severity.REVOCATION,
        "12(2)",
    )


@pytest.mark.parametrize("raw", ["停业", "歇业", "清算", "清算中", "破产"])
def test_not_operating_status_is_a_review(raw: str) -> None:
    [finding] = fired(registration(raw_status=raw))
    assert (finding.rule_id, finding.severity) == ("art12.2-not-operating", Severity.REVIEW)


def test_abnormal_operation_listing_until_removed() -> None:
    listed = credit(
        kind="abnormal_operation", record_id="JY-1", authority="北京市房山区市场监督管理局"
    )
    [finding] = fired(listed)
    assert finding.rule_id == "art12.2-not-operating" and finding.evidence_key == "src0:JY-1"
    assert fired(credit(kind="abnormal_operation", removed_on="2026-02-01")) == []


@pytest.mark.parametrize(
    ("figures", "rule"),
    [
        ({"deaths": 9, "direct_loss_cny": 49_999_999}, "art12.3-large-accident"),
        ({"deaths": 10}, "art12.3-major-accident"),
        ({"serious_injuries": 50}, "art12.3-major-accident"),
        ({"serious_injuries": 49}, "art12.3-large-accident"),
        ({"direct_loss_cny": 50_000_000}, "art12.3-major-accident"),
        ({"deaths": 30}, "art12.3-major-accident"),  # especially major is major or worse
        ({"deaths": 3}, "art12.3-large-accident"),
        ({"deaths": 2, "direct_loss_cny": 9_999_999}, None),  # general
    ],
)
def test_production_safety_grading_decree_493(figures: dict[str, Any], rule: str | None) -> None:
    assert rules(fired(accident(**figures))) == ({rule} if rule else set())


@pytest.mark.parametrize(
    ("figures", "grade"),
    [
        ({"direct_loss_cny": 20_000_000}, "major"),
        ({"direct_loss_cny": 19_999_999}, "large"),
        ({"evacuated": 10_000}, "major"),
        ({"evacuated": 50_000}, "especially_major"),
        ({"evacuated": 4_999}, None),
    ],
)
def test_environmental_grading(figures: dict[str, Any], grade: str | None) -> None:
    findings = fired(accident(category="environmental", **figures))
    assert [f.evidence["grade"] for f in findings] == ([grade] if grade else [])
    if findings:
        assert findings[0].evidence["derived_grade"] == grade
        assert findings[0].evidence["provider_grade"] is None


@pytest.mark.parametrize(
    ("provider", "figures", "effective", "derived"),
    [
        ("一般", {"deaths": 12}, "major", "major"),  # the figures say more than the provider
        ("较大", {"deaths": 35}, "especially_major", "especially_major"),
        ("重大", {"deaths": 0}, "major", "general"),  # the provider says more than the figures
        ("Ⅱ级", {}, "major", None),
    ],
)
def test_the_effective_grade_is_the_more_severe_and_the_evidence_shows_both(
    provider: str, figures: dict[str, Any], effective: str, derived: str | None
) -> None:
    [finding] = fired(accident(grade=parse_grade(provider), **figures))
    assert (finding.rule_id, finding.severity) == ("art12.3-major-accident", Severity.REVOCATION)
    assert finding.evidence["grade"] == effective
    assert finding.evidence["provider_grade"] == parse_grade(provider)
    assert finding.evidence["derived_grade"] == derived


def test_a_quality_accident_without_a_grade_is_graded_by_analogy_for_review_only() -> None:
    [finding] = fired(accident(category="quality", deaths=40))
    assert (finding.rule_id, finding.severity) == ("art12.3-major-accident", Severity.REVIEW)
    assert finding.evidence["graded_by_analogy"] == "国务院令第493号"
    [graded] = fired(accident(category="quality", grade="major"))
    assert (graded.rule_id, graded.severity) == ("art12.3-major-accident", Severity.REVOCATION)
    assert graded.evidence["graded_by_analogy"] is None


def test_an_accident_with_neither_grade_nor_figures_reaches_a_person() -> None:
    [finding] = fired(accident(summary="车间起火"))
    assert (finding.rule_id, finding.severity) == ("data-ungraded-accident", Severity.REVIEW)
    assert rules(fired(accident(grade="general", deaths=1))) == set()


def test_an_unknown_grade_raises_a_data_finding_and_the_figures_still_count() -> None:
    found = fired(accident(grade="unknown", unmapped={"grade": "甲等"}, deaths=10))
    assert rules(found) == {"data-unknown-value", "art12.3-major-accident"}
    [unknown] = [f for f in found if f.rule_id == "data-unknown-value"]
    assert unknown.summary_params == {"field": "grade", "text": "甲等"}


# the factory of these tests was designated on 2025-06-30
@pytest.mark.parametrize(
    ("occurred_on", "deaths", "rule"),
    [
        ("2025-06-30", 10, "art12.3-major-accident"),  # on the designation day
        ("2025-06-29", 10, "art5.3-prior-accident"),  # the day before: 5(3), not 12(3)
        ("2022-06-30", 3, "art5.3-prior-accident"),  # three years before, to the day
        ("2022-06-29", 30, None),  # older than that: it bears on nothing
        ("2025-07-01", 3, "art12.3-large-accident"),
        ("2024-01-01", 1, None),  # a general accident before the designation
    ],
)
def test_accidents_are_anchored_to_the_designation_date(
    occurred_on: str, deaths: int, rule: str | None
) -> None:
    assert rules(fired(accident(occurred_on=occurred_on, deaths=deaths))) == (
        {rule} if rule else set()
    )


def test_a_prior_accident_is_a_review_under_5_3_and_12_1() -> None:
    [finding] = fired(accident(occurred_on="2024-05-01", grade="large"))
    assert (finding.severity, finding.clause) == (Severity.REVIEW, "5(3), 12(1)")


def test_penalties_count_from_the_designation_date_listings_while_listed() -> None:
    assert rules(fired(credit(decided_on="2025-06-30"))) == {"art12.5-penalty"}
    # the day before the designation is Article 5(3)'s, not 12(5)'s
    assert rules(fired(credit(decided_on="2025-06-29"))) == {"art5.3-prior-violation"}
    removed = credit(kind="serious_violation", decided_on="2020-01-01", removed_on="2026-01-01")
    assert rules(fired(removed)) == {"art5.3-prior-violation"}  # it stood in the window
    assert rules(fired(credit(kind="serious_violation", decided_on="2020-01-01"))) == {
        "art12.5-penalty",
        "art5.3-prior-violation",
    }


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        # designated 2025-06-30: the window is 2022-06-30 .. 2025-06-29
        ({"decided_on": "2022-06-30"}, True),
        ({"decided_on": "2022-06-29"}, False),  # older than the window
        ({"decided_on": "2025-06-29"}, True),
        ({"decided_on": None}, False),  # undated: cannot be placed
        ({"kind": "abnormal_operation", "decided_on": "2019-01-01"}, True),  # still standing
        (
            {"kind": "abnormal_operation", "decided_on": "2019-01-01", "removed_on": "2022-06-30"},
            True,
        ),
        (
            {"kind": "abnormal_operation", "decided_on": "2019-01-01", "removed_on": "2022-06-29"},
            False,
        ),
        (
            {"kind": "dishonest_debtor", "decided_on": "2024-01-01", "removed_on": "2024-06-01"},
            True,
        ),
        ({"kind": "dishonest_debtor", "decided_on": "2025-07-01"}, False),  # after: 12(5)'s
    ],
)
def test_article_5_3_covers_credit_in_the_three_years_before(
    record: dict[str, Any], expected: bool
) -> None:
    found = {f.rule_id: f for f in fired(credit(**record))}
    assert ("art5.3-prior-violation" in found) is expected
    if expected:
        finding = found["art5.3-prior-violation"]
        assert (finding.clause, finding.severity, finding.anchor) == (
            "5(3), 12(1)",
            Severity.REVIEW,
            "event",
        )


def test_a_penalty_whose_fine_is_unknown_is_reviewed_whatever_the_threshold() -> None:
    strict = POLICY.model_copy(update={"penalty_fine_threshold_cny": 100_000})
    [finding] = fired(credit(decided_on="2026-01-01", fine_cny=None), policy=strict)
    assert finding.rule_id == "art12.5-penalty"
    assert finding.summary_key == "finding.penalty_fine_unknown"
    assert fired(credit(decided_on="2026-01-01", fine_cny=50_000), policy=strict) == []
    assert rules(fired(credit(decided_on="2026-01-01", fine_cny=100_000), policy=strict)) == {
        "art12.5-penalty"
    }


@pytest.mark.parametrize(
    "reason",
    [
        "责令停产停业六个月",
        "责令关闭",
        "吊销安全生产许可证",
        "吊销营业执照",
        "限制开展生产经营活动三个月",
    ],
)
def test_a_penalty_that_stops_operation_is_not_operating_while_it_applies(reason: str) -> None:
    stopping = credit(decided_on="2026-03-01", reason=reason)
    assert rules(fired(stopping)) == {"art12.5-penalty", "art12.2-not-operating"}
    lifted = credit(decided_on="2026-03-01", reason=reason, removed_on="2026-09-01")
    assert rules(fired(lifted)) == {"art12.5-penalty"}
    assert rules(fired(credit(decided_on="2026-03-01", reason="警告；罚款"))) == {"art12.5-penalty"}


def test_an_event_dated_after_today_or_before_1949_is_a_data_error_and_nothing_else() -> None:
    future = accident(deaths=12, occurred_on="2027-03-01")
    [finding] = fired(future, today=date(2026, 12, 4))
    assert (finding.rule_id, finding.severity) == ("data-implausible-date", Severity.REVIEW)
    assert finding.evidence["field"] == "occurred_on" and finding.evidence["text"] == "2027-03-01"
    ancient = credit(kind="serious_violation", decided_on="1900-01-01")
    assert rules(fired(ancient)) == {"data-implausible-date"}
    assert rules(fired(accident(deaths=12, occurred_on="2026-12-04"), today=date(2026, 12, 4))) == {
        "art12.3-major-accident"
    }


def test_a_quality_accident_major_only_by_analogy_is_a_review() -> None:
    by_analogy = accident(category="quality", grade="general", deaths=12)
    [finding] = fired(by_analogy)
    assert (finding.rule_id, finding.severity) == ("art12.3-major-accident", Severity.REVIEW)
    assert finding.evidence["graded_by_analogy"] == "国务院令第493号"
    graded_major = accident(category="quality", grade="major", deaths=12)
    assert fired(graded_major)[0].severity is Severity.REVOCATION
    safety = accident(category="production_safety", grade="general", deaths=12)
    assert fired(safety)[0].severity is Severity.REVOCATION


NO_SIGNS = {"registration_authority": None, "division_code": None, "registered_address": None}


@pytest.mark.parametrize(
    "fields",
    [
        {**NO_SIGNS, "registration_authority": "三河市市场监督管理局"},
        {
            **NO_SIGNS,
            "registration_authority": "河北省廊坊市市场监督管理局",
            "division_code": "131000",
            "registered_address": "廊坊市广阳区新开路1号",
        },
        {**NO_SIGNS, "registered_address": "天津市滨海新区第三大街5号"},
        {**NO_SIGNS, "division_code": "131003"},
        {
            **NO_SIGNS,
            "raw_status": "迁出",
            "registration_authority": "上海市浦东新区市场监督管理局",
            "division_code": "310115",
        },
    ],
)
def test_relocated_out_of_beijing(fields: dict[str, Any]) -> None:
    [finding] = fired(registration(**fields))
    assert (finding.rule_id, finding.severity, finding.clause) == (
        "art12.4-relocated",
        Severity.REVOCATION,
        "12(4)",
    )


@pytest.mark.parametrize(
    "fields",
    [
        {"raw_status": "迁出"},  # moved out, and every sign still says Beijing
        {**NO_SIGNS, "raw_status": "迁出"},  # a bare 迁出
        {"division_code": "131003"},  # a code outside, an authority in Beijing
        {
            **NO_SIGNS,
            "registration_authority": "北京市朝阳区市场监督管理局",
            "division_code": "220104",
        },
    ],
)
def test_a_move_without_a_destination_or_with_disagreeing_signs_is_for_review(
    fields: dict[str, Any],
) -> None:
    [finding] = fired(registration(**fields))
    assert (finding.rule_id, finding.severity) == (
        "art12.4-relocation-unconfirmed",
        Severity.REVIEW,
    )
    record = registration(**fields)
    for field in ("registration_authority", "division_code", "registered_address"):
        if getattr(record, field):
            assert finding.evidence[field] == getattr(record, field)  # every sign is shown


@pytest.mark.parametrize(
    "fields",
    [
        {"registration_authority": "北京经济技术开发区市场监督管理局", "division_code": "110302"},
        {"registration_authority": "北京市市场监督管理局", "division_code": None},
        {"registration_authority": "国家市场监督管理总局", "division_code": None},
        {**NO_SIGNS, "registration_authority": "朝阳区市场监督管理局"},  # ambiguous alone
        {"credit_code": "91310115MA1K4CTN7X"},  # first registered in Shanghai, now in Beijing
        {"raw_status": "迁入"},
    ],
)
def test_beijing_and_unclear_places_are_not_relocations(fields: dict[str, Any]) -> None:
    assert fired(registration(**fields)) == []


def test_penalties_and_listings() -> None:
    assert rules(fired(credit(kind="serious_violation"))) == {"art12.5-penalty"}
    assert rules(fired(credit(kind="dishonest_debtor"))) == {"art12.5-penalty"}
    assert fired(credit(kind="serious_violation", removed_on="2026-03-01")) == []
    [finding] = fired(credit(fine_cny=1000, document_no="京环罚字〔2026〕1号"))
    assert finding.severity is Severity.REVIEW
    assert finding.summary_params["document_no"] == "京环罚字〔2026〕1号"


def test_penalty_fine_threshold() -> None:
    strict = POLICY.model_copy(update={"penalty_fine_threshold_cny": 100_000})
    assert fired(credit(fine_cny=99_999), policy=strict) == []
    assert rules(fired(credit(fine_cny=100_000), policy=strict)) == {"art12.5-penalty"}


@pytest.mark.parametrize(
    "registered",
    ["北京测试智能装备有限公司", "北京测试智能装备 有限公司", "北京测试智能装备\u3000有限公司"],
)
def test_same_name_after_normalisation_is_not_a_rename(registered: str) -> None:
    assert fired(registration(name=registered)) == []


def test_bracket_width_alone_is_not_a_rename() -> None:
    assert (
        fired(registration(name="中关村传感(北京)有限公司"), name="中关村传感（北京）有限公司")
        == []
    )


def test_a_new_registered_name_is_a_pending_rename() -> None:
    [finding] = fired(registration(name="北京新名智能装备有限公司"))
    assert (finding.rule_id, finding.severity) == ("art12-rename-pending", Severity.ACTION)
    assert finding.evidence_key == "name:北京新名智能装备有限公司"


def test_restructure_against_the_baseline_entity_type() -> None:
    [finding] = fired(registration(entity_type="股份有限公司"))
    assert finding.rule_id == "art12-restructure-pending"
    assert fired(registration(entity_type="股份有限公司"), baseline=None) == []


def test_unknown_status_and_not_found_are_data_findings() -> None:
    [unknown] = fired(registration(raw_status="待核实"))
    assert unknown.rule_id == "data-unknown-status" and unknown.evidence_key == "status:待核实"
    [missing] = fired(Topic.REGISTRATION, outcome="not_found")
    assert missing.rule_id == "data-not-found"


def test_an_error_outcome_produces_no_finding() -> None:
    for topic in Topic:
        assert fired(topic, outcome="error") == []


def test_the_same_fact_from_two_sources_is_one_finding() -> None:
    [finding] = fired(registration(raw_status="注销"), registration(raw_status="注销"))
    assert finding.evidence["sources"] == ["src0", "src1"]


def test_rule_switches() -> None:
    off = POLICY.model_copy(update={"rules": {"art12.5-penalty": False}})
    assert fired(credit(kind="serious_violation"), policy=off) == []


def test_expired_measures_keep_applying_and_say_so() -> None:
    choice = measures_in_force(DEFAULT_POLICIES, date(2027, 1, 1))
    assert choice.key == "2025" and choice.expired
    assert not measures_in_force(DEFAULT_POLICIES, date(2026, 12, 31)).expired


def test_unknown_rule_switch_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "sfm.toml"
    path.write_text(
        '[policy."2025"]\ntitle="x"\neffective_from=2025-01-01\n'
        'rules = { "art12.9-typo" = false }\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=r"art12\.9-typo"):
        load_config(path, environ={})


@pytest.mark.parametrize(
    ("text", "status"),
    [
        ("存续（在营、开业、在册）", "active"),
        ("存续(在营、开业、在册)", "active"),
        ("在营（开业）企业", "active"),
        ("在营(开业)", "active"),
        ("开业", "active"),
        ("正常", "active"),
        ("登记成立", "active"),
        ("迁入", "active"),
        ("已迁出", "moved_out"),
        ("注销企业", "deregistered"),
        ("已注销", "deregistered"),
        ("吊销,已注销", "deregistered"),
        ("吊销，已注销", "deregistered"),
        ("吊销后注销", "deregistered"),
        ("吊销企业", "license_revoked"),
        ("吊销，未注销", "license_revoked"),
        ("吊销未注销", "license_revoked"),
        ("撤销登记", "cancelled"),
        ("责令关闭", "suspended"),
        ("歇业", "suspended"),
        ("破产清算", "liquidating"),
        ("注销 状态", "deregistered"),
        # never by substring: these are not 注销
        ("拟注销", "unknown"),
        ("注销中", "unknown"),
        ("简易注销公告", "unknown"),
    ],
)
def test_status_texts_real_registries_use(text: str, status: str) -> None:
    from monitor.rules.policy import map_status

    assert map_status(text, {}).value == status


def test_an_entity_type_differing_only_in_bracket_width_is_no_restructure() -> None:
    same = registration(entity_type="有限责任公司(自然人投资或控股)")
    assert fired(same, baseline="有限责任公司（自然人投资或控股）") == []
    other = registration(entity_type="股份有限公司(非上市、自然人投资或控股)")
    assert rules(fired(other, baseline="有限责任公司（自然人投资或控股）")) == {
        "art12-restructure-pending"
    }


def test_a_national_registration_authority_is_no_relocation() -> None:
    national = registration(
        registration_authority="国家市场监督管理总局",
        division_code="100000",
        registered_address=None,
    )
    assert fired(national) == []
    xiongan = registration(
        registration_authority="雄安新区市场监督管理局", division_code=None, registered_address=None
    )
    assert rules(fired(xiongan)) == {"art12.4-relocated"}
    beijing_town = registration(registered_address="北京市房山区河北镇河北村1号")
    assert fired(beijing_town) == []


def in_district(*records: Any, districts: tuple[str, ...] = ("110108",)) -> list[Finding]:
    from dataclasses import replace

    from monitor.rules import evaluate

    return evaluate(replace(facts(*records), districts=districts), Measures.only(POLICY, TODAY))


CHANGPING = {
    "registration_authority": "北京市昌平区市场监督管理局",
    "division_code": "110114",
    "registered_address": "北京市昌平区科技园区超前路9号",
}


def test_a_move_inside_beijing_is_an_action_for_both_districts() -> None:
    [finding] = in_district(registration(**CHANGPING))
    assert (finding.rule_id, finding.severity, finding.clause) == (
        "register-district-changed",
        Severity.ACTION,
        "4",
    )
    assert finding.evidence["new_districts"] == ["110114"]
    assert finding.evidence_key == "district:110114"
    # a sign that still names the designation's own district: nothing to do yet
    partly = registration(**{**CHANGPING, "division_code": "110108"})
    assert in_district(partly) == []
    # the development area is a district of its own: 大兴 → 经开区 is a move
    yizhuang = registration(
        registration_authority="北京经济技术开发区市场监督管理局",
        division_code="110302",
        registered_address="北京经济技术开发区科创十三街1号",
    )
    [to_yizhuang] = in_district(yizhuang, districts=("110115",))
    assert to_yizhuang.evidence["new_districts"] == ["110302"]
    # outside Beijing is 12(4)'s, and an ordinary factory raises nothing
    hebei = registration(
        registration_authority="河北省廊坊市市场监督管理局",
        division_code="131000",
        registered_address="廊坊市广阳区新开路1号",
    )
    assert rules(in_district(hebei)) == {"art12.4-relocated"}
    assert in_district(registration()) == []


def test_a_merger_or_division_the_registry_reports_is_a_restructure() -> None:
    merged = registration(raw_status="注销（因合并）")
    found = {f.rule_id: f for f in fired(merged)}
    assert "art12-restructure-pending" in found
    assert found["art12-restructure-pending"].evidence["raw_status"] == "注销（因合并）"
    assert "art12-restructure-pending" not in rules(fired(registration(raw_status="存续")))
