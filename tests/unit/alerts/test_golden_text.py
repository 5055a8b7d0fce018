"""The words officials read, held verbatim: a change of wording fails here and is reviewed.

To accept a change on purpose, run with SFM_WRITE_GOLDEN=1 and review the diff
of tests/unit/alerts/golden/.
"""

import os
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.alerts.context import flag_context
from monitor.alerts.render import Renderer
from monitor.i18n import CATALOG, using_language
from monitor.rules import RULES
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
    assert words.subject == "疑似撤销情形：第十二条第（三）项｜北京华芯微电子装备有限公司"


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
    assert words.subject.startswith("需先确认认定依据（《办法》已到期）｜疑似撤销情形")
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
    assert words.subject.startswith("需先确认认定依据（《办法》已到期）｜疑似撤销情形")
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


# ---------------------------------------------------------------- every template, both languages

CONNECTOR_IDS = ("safety-tyc", "registry-qcc", "credit-qcc")
MEASURES = {
    "zh": "北京市智能工厂认定管理办法（京经信发〔2025〕22号）",
    "en": "Beijing Smart Factory Measures (2025)",
}


def _flag_ctx(
    language: str, recipient: str, kind_of_copy: str = "first", **more: Any
) -> dict[str, Any]:
    flag, factory = revocation_flag()
    flag.evidence = {**flag.evidence, "source_name": "天眼查"}
    with using_language(language):
        return {
            "measures": {"title": MEASURES[language], "expired": False, "expires_on": "2026-12-31"},
            "now": "2026-11-24 09:31",
            "authority": "海淀区经济和信息化局"
            if recipient != "municipal"
            else "北京市经济和信息化局",
            "recipients": "北京市经济和信息化局、海淀区经济和信息化局",
            "days_open": 21,
            "today": "2026-11-24",
            **flag_context(
                flag,
                factory,
                deadline_days=10,
                recipient=recipient,
                now=SEEN + timedelta(days=21) if kind_of_copy == "late" else None,
            ),
            **more,
        }


def _digest_ctx(language: str) -> dict[str, Any]:
    flag, factory = revocation_flag()
    review = Flag(
        **{
            **flag.model_dump(),
            "id": 8,
            "rule_id": "art12.5-penalty",
            "clause": "12(5)",
            "severity": "review",
            "summary_key": "finding.raised_by_staff",
            "summary_params": {"reason": "行政处罚决定书 京应急罚〔2026〕12号"},
            "evidence": {"source_name": "企查查", "observed_at": SEEN.isoformat()},
        }
    )
    basic = Factory(**{**factory.model_dump(), "level": "basic"})
    ctx = _flag_ctx(language, "110108")
    with using_language(language):
        ctx["items"] = [
            flag_context(flag, factory, deadline_days=10, recipient="110108"),
            flag_context(review, basic, deadline_days=10, recipient="110108"),
        ]
    return ctx


def _note_ctx(language: str, note: dict[str, Any]) -> dict[str, Any]:
    return {
        "measures": {"title": MEASURES[language], "expired": False, "expires_on": "2026-12-31"},
        "now": "2026-11-24 09:31",
        "authority": "sfm",
        "title": "",
        "message": "",
        "note": note,
    }


NOTES: dict[str, tuple[str, dict[str, Any]]] = {
    "filing": (
        "filing",
        {
            "district": "海淀区经济和信息化局",
            "quarter": "2026年第四季度",
            "code": "2026Q4",
            "first": "2026-09-16",
            "last": "2026-12-15",
            "deadline": "2026-12-15",
            "days_left": 7,
            "basic": 12,
            "filed": 3,
            "report": "filings-2026Q4-110108.xlsx",
        },
    ),
    "expiry-warning": (
        "expiry",
        {
            "kind": "warning",
            "title": "北京市智能工厂认定管理办法",
            "expires_on": "2026-12-31",
            "days_left": 30,
        },
    ),
    "expiry-lapsed": (
        "expiry",
        {
            "kind": "lapsed",
            "title": "北京市智能工厂认定管理办法",
            "expires_on": "2026-12-31",
            "successor": "",
            "successor_from": "",
        },
    ),
    "overview": (
        "overview",
        {
            "week": "2026-W48",
            "total": 2,
            "by_severity": [["疑似撤销情形", 1], ["待核查", 1]],
            "by_district": [["海淀区", "先进级", 1], ["昌平区", "基础级", 1]],
            "oldest": [
                {
                    "id": 7,
                    "name": "北京华芯微电子装备有限公司",
                    "clause": "第十二条第（三）项",
                    "what": "重大、较大事故",
                    "first_seen": "2026-11-24",
                },
            ],
            "audit": {
                "length": 418,
                "head": "5d1f0c3e9a7b24c86e0f1d2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e",
            },
        },
    ),
    "ops-connector-down": (
        "ops",
        {
            "kind": "connector_down",
            "connector": "天眼查",
            "failing": True,
            "runs": 3,
            "detail": "连接超时",
            "since": "2026-11-23 09:00",
        },
    ),
    "ops-connector-stale": (
        "ops",
        {
            "kind": "connector_down",
            "connector": "天眼查",
            "failing": False,
            "runs": 0,
            "detail": "",
            "since": "2026-11-20 09:00",
        },
    ),
    "ops-connector-up": (
        "ops",
        {"kind": "connector_up", "connector": "天眼查", "since": "2026-11-24 09:00"},
    ),
    "ops-nomatch": (
        "ops",
        {
            "kind": "nomatch",
            "authority": "海淀区经济和信息化局",
            "alert_id": 12,
            "detail": "没有可用的通知地址",
            "path": "/etc/sfm/authorities.toml",
        },
    ),
    "ops-expired": (
        "ops",
        {
            "kind": "expired",
            "title": "北京市智能工厂认定管理办法",
            "expires_on": "2026-12-31",
            "successor": "北京市智能工厂认定管理办法（2027）",
            "successor_from": "2027-02-01",
        },
    ),
}


def every_text(language: str) -> dict[str, tuple[str, dict[str, Any]]]:
    """Each template with a context a job would build for it."""
    texts: dict[str, tuple[str, dict[str, Any]]] = {
        "flag-to-bureau": ("flag", _flag_ctx(language, "municipal")),
        "flag-to-district": ("flag", _flag_ctx(language, "110108")),
        "reminder": ("reminder", _flag_ctx(language, "110108", "late")),
        "escalation": ("escalation", _flag_ctx(language, "municipal", "late")),
        "digest": ("digest", _digest_ctx(language)),
        "test": ("test", _note_ctx(language, {}) | {"authority": "海淀区经济和信息化局"}),
        "notice": ("notice", _note_ctx(language, {}) | {"title": "通知", "message": "内容"}),
    }
    for kind, decided in ENDINGS.items():
        texts[f"closing-{kind}"] = ("closing", _flag_ctx(language, "110108", decision=decided))
    for kind, decided in DECISIONS.items():
        texts[f"decision-{kind}"] = ("decision", _flag_ctx(language, "110108", decision=decided))
    for name, (kind, note) in NOTES.items():
        texts[name] = (kind, _note_ctx(language, note))
    return texts


ALL = [(language, name) for language in ("zh", "en") for name in every_text(language)]


@pytest.mark.parametrize(("language", "name"), ALL)
def test_every_template_reads_as_held(language: str, name: str) -> None:
    kind, ctx = every_text(language)[name]
    with using_language(language):
        words = Renderer(None, language, 1000).render(kind, ctx)
    check(
        f"{language}/{name}.md",
        f"{words.subject}\n\n{words.full}\n\n======== IM ========\n\n{words.compact}",
    )
    assert words.subject and "\n" not in words.subject


def _outside_code(text: str) -> str:
    """The words an official reads: staff's command lines (`...`) set apart."""
    return re.sub(r"`[^`]*`", "", text)


@pytest.mark.parametrize("name", list(every_text("zh")))
def test_no_official_text_has_rule_ids_connector_ids_decisions_or_program_words(
    name: str,
) -> None:
    kind, ctx = every_text("zh")[name]
    with using_language("zh"):
        words = Renderer(None, "zh", 1000).render(kind, ctx)
    for text in (words.subject, words.full, words.compact):
        read = _outside_code(text)
        assert not [rule for rule in RULES if rule in read]
        assert not [connector for connector in CONNECTOR_IDS if connector in read]
        assert "应撤销" not in read and "【sfm】" not in read and "[policy" not in read
        if kind != "ops":  # ops notes quote a source's or the mailer's own error
            # words, not a source's record numbers (AQ-2026-311)
            plain = read.replace("（sfm）", "")
            english = re.findall(r"(?<![\w-])[A-Za-z]{2,}(?![\w-])", plain)
            assert english == [], english
    assert "标记" not in words.subject and "sfm" not in words.subject
