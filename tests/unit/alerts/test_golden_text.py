"""The words officials read, held verbatim: a change of wording fails here and is reviewed.

To accept a change on purpose, run with SFM_WRITE_GOLDEN=1 and review the diff
of tests/unit/alerts/golden/.
"""

import os
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from monitor.alerts.context import flag_context
from monitor.alerts.render import Renderer
from monitor.i18n import CATALOG, using_language
from monitor.storage.models import Factory, Flag

GOLDEN = Path(__file__).with_name("golden")
SEEN = datetime(2026, 11, 24, 1, 30, tzinfo=UTC)  # 09:30 in Beijing


def revocation_flag() -> tuple[Flag, Factory]:
    factory = Factory(
        id=1,
        credit_code="91110108600037341L",
        name="北京华芯微电子装备有限公司",
        level="advanced",
        district_code="110108",
        designated_on=date(2025, 6, 30),
    )
    flag = Flag(
        id=7,
        fingerprint="f",
        rule_id="art12.3-major-accident",
        clause="12(3)",
        severity="revocation",
        factory_id=1,
        topic="safety",
        evidence_key="safety-tyc:AQ-2026-311",
        state="open",
        summary_key="finding.accident",
        summary_params={
            "occurred_on": "2026-09-14",
            "category": "production_safety",
            "grade": "major",
            "summary": "车间粉尘爆炸",
            "deaths": 12,
        },
        evidence={
            "source": "safety-tyc",
            "observed_at": SEEN.isoformat(),
            "observation_id": 3,
            "record_id": "AQ-2026-311",
            "occurred_on": "2026-09-14",
            "category": "production_safety",
            "grade": "major",
            "provider_grade": "general",
            "derived_grade": "major",
            "deaths": 12,
            "summary": "车间粉尘爆炸",
            "sources": ["safety-tyc"],
        },
        first_seen_at=SEEN,
        last_seen_at=SEEN,
        state_changed_at=SEEN,
    )
    return flag, factory


def context(**more: Any) -> dict[str, Any]:
    flag, factory = revocation_flag()
    return {
        "measures": {
            "title": "北京市智能工厂认定管理办法（京经信发〔2025〕22号）",
            "expired": False,
            "expires_on": "2026-12-31",
        },
        "now": "2026-11-24 09:31",
        "authority": "北京市经济和信息化局",
        **flag_context(flag, factory, deadline_days=10),
        **more,
    }


def rendered(kind: str, ctx: dict[str, Any]) -> Any:
    with using_language("zh"):
        return Renderer(None, "zh", 1000).render(kind, ctx)


def check(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("SFM_WRITE_GOLDEN"):
        path.write_text(text + "\n", encoding="utf-8")
    assert text + "\n" == path.read_text(encoding="utf-8")


def test_a_revocation_alert_reads_as_a_notice_between_offices() -> None:
    with using_language("zh"):
        words = rendered("flag", context())
    check("revocation-email.md", f"{words.subject}\n\n{words.full}")
    assert words.subject == "【sfm】疑似撤销情形：第十二条第（三）项｜北京华芯微电子装备有限公司"


def test_the_im_message_keeps_clause_fact_action_and_deadline() -> None:
    with using_language("zh"):
        words = rendered("flag", context())
    check("revocation-im.md", words.compact)
    for part in (
        "第十二条第（三）项",
        "发生重大环保、安全、质量事故",
        "2026-12-04",
        "北京市经济和信息化局",
    ):
        assert part in words.compact


def decision(kind: str, **more: Any) -> dict[str, Any]:
    """A decision as the context reads it from its stored audit entry or event."""
    return {
        "kind": kind,
        "by_system": kind == "cleared",
        "by": "" if kind == "cleared" else "市经信局 李明",
        "at": "2026-11-30 10:00（北京时间）",
        "on": "",
        "reference": "",
        "reason": "经现场核实，事故等级为重大",
        "former_name": "",
        "new_name": "",
        **more,
    }


ENDINGS = {
    "revoked": decision(
        "revoked", on="2026-11-28", reference="京经信发〔2026〕88号", reason="发生重大生产安全事故"
    ),
    "renamed": decision(
        "renamed",
        on="2026-11-10",
        reference="京经信函〔2026〕7号",
        reason="",
        former_name="北京华芯微电子装备有限公司",
        new_name="北京华芯智能装备有限公司",
    ),
    "moved": decision("moved", on="2026-11-15", reference="", reason="由海淀区迁至昌平区"),
    "cleared": decision("cleared", reason="事故记录经数据源更正为一般事故"),
}
DECISIONS = {kind: decision(kind) for kind in ("confirmed", "dismissed", "reopened")}


@pytest.mark.parametrize("kind", sorted(ENDINGS))
def test_a_closing_notice_says_what_was_decided_by_whom_when_and_under_which_document(
    kind: str,
) -> None:
    flag, factory = revocation_flag()
    flag.state = "cleared" if kind == "cleared" else "resolved"
    with using_language("zh"):
        ctx = {**context(), **flag_context(flag, factory), "decision": ENDINGS[kind]}
        words = rendered("closing", ctx)
    check(f"closing-{kind}-email.md", f"{words.subject}\n\n{words.full}")
    check(f"closing-{kind}-im.md", words.compact)
    assert words.subject.endswith("：第十二条第（三）项｜北京华芯微电子装备有限公司")
    for key, value in ENDINGS[kind].items():
        if isinstance(value, str) and value and key != "kind":
            assert value in words.full


@pytest.mark.parametrize("kind", sorted(DECISIONS))
def test_a_decision_notice_says_what_was_found_by_whom_and_what_remains(kind: str) -> None:
    flag, factory = revocation_flag()
    with using_language("zh"):
        ctx = {**context(), **flag_context(flag, factory), "decision": DECISIONS[kind]}
        words = rendered("decision", ctx)
    check(f"decision-{kind}-email.md", f"{words.subject}\n\n{words.full}")
    assert "市经信局 李明" in words.full and "经现场核实，事故等级为重大" in words.full


def test_once_the_measures_expire_the_subject_asks_to_check_the_basis() -> None:
    expired = context(
        measures={
            "title": "北京市智能工厂认定管理办法",
            "expired": True,
            "expires_on": "2026-12-31",
            "successor": "",
            "successor_from": "",
        }
    )
    words = rendered("flag", expired)
    assert words.subject.startswith("【sfm】需核查（《办法》已到期）")
    assert "请先确认现行有效的认定依据" in words.full
    assert "尚无后续办法" in words.full


def test_in_a_gap_before_a_successor_the_alert_says_when_it_starts() -> None:
    in_gap = context(
        measures={
            "title": "北京市智能工厂认定管理办法",
            "expired": True,
            "expires_on": "2026-12-31",
            "successor": "北京市智能工厂认定管理办法（2027）",
            "successor_from": "2027-02-01",
        }
    )
    words = rendered("flag", in_gap)
    assert words.subject.startswith("【sfm】需核查（《办法》已到期）")
    assert "北京市智能工厂认定管理办法（2027）自 2027-02-01 起施行，在此之前" in words.full
    assert "尚无后续办法" not in words.full


@pytest.mark.parametrize("kind", ["flag", "closing", "decision"])
def test_no_catalogue_key_or_english_state_reaches_a_chinese_reader(kind: str) -> None:
    ctx = context(decision=decision("cleared" if kind == "closing" else "dismissed"))
    words = rendered(kind, ctx)
    text = words.subject + words.full + words.compact
    leaked = [key for key in CATALOG if key in text and "." in key]
    english = [
        word
        for word in (
            "open",
            "confirmed",
            "dismissed",
            "resolved",
            "cleared",
            "revocation",
            "review",
            "production_safety",
            "major",
            "observed_at",
            "record_id",
        )
        if f" {word}" in text or f"：{word}" in text or f"{word}：" in text
    ]
    assert leaked == [] and english == []
