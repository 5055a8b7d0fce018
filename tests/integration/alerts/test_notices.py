"""Every decision and every ending is announced to each office that was told of the flag, and
the notice is rendered from the decision it stores (DESIGN §5), on SQLite and PostgreSQL,
delivered to a real loopback webhook receiver."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlmodel import Session, col

from monitor.alerts.service import Alerting, alerting_for
from monitor.clock import now_utc
from monitor.config import load_config
from monitor.decisions import decide, move_factory, raise_for, rename_factory, revoke_factory
from monitor.flags.book import FlagBook, open_flag
from monitor.operators import Operator
from monitor.register.store import find_factory, import_factories
from monitor.rules import RULES, Finding
from monitor.rules.naming import normalise_name
from monitor.storage.db import session_scope
from monitor.storage.models import Alert, DesignationEvent, FlagAudit
from monitor.vocabulary import FlagState, Severity
from tests.conftest import REGISTRAR
from tests.integration.alerts.conftest import Webhook, write_alert_config

BUREAU = Operator("li", "市经信局 李明", "municipal")
FENGTAI = Operator("wang", "丰台区经信局 王芳", ("110106",))
REGISTER = """统一社会信用代码,企业名称,级别,所在区,认定日期
911101085214771897,北京智联精密机械有限公司,先进级,海淀区,2025-06-30
911101081235534499,北京丰泽食品科技有限公司,基础级,丰台区,2025-06-30
"""
ADVANCED, BASIC = "911101085214771897", "911101081235534499"
RECEIVERS = ("municipal", "ops", "110108", "110106", "110105")


@pytest.fixture
def office(engine: Engine, database_url: str, tmp_path: Path, webhook: Webhook) -> Alerting:
    source = tmp_path / "register.csv"
    source.write_text(REGISTER, encoding="utf-8")
    import_factories(engine, source, operator=REGISTRAR)
    path = write_alert_config(
        tmp_path, database_url, {key: [webhook.url(key)] for key in RECEIVERS}
    )
    return alerting_for(engine, load_config(path, environ={}))


def told(engine: Engine, alerting: Alerting, code: str, rule_id: str, key: str = "") -> int:
    """A flag opened and its alert delivered (a review flag's through the day's digest)."""
    spec = RULES[rule_id]
    with session_scope(engine) as session:
        factory = find_factory(session, code)
        finding = Finding(
            rule_id,
            spec.clause,
            Severity(spec.severity),
            None,
            key or f"raised:{rule_id}",
            "finding.raised_by_staff",
            {"reason": "测试情况"},
            {"reason": "测试情况"},
        )
        flag = open_flag(
            session, factory, finding, actor="li", reason="x", now=now_utc(), outbox=alerting.outbox
        )
        flag_id = flag.id or 0
    with session_scope(engine) as session:
        alerting.outbox.make_digests(session, now_utc())
    alerting.dispatcher.dispatch_due()
    return flag_id


def notices(engine: Engine, kind: str, flag_id: int) -> list[Alert]:
    with Session(engine) as session:
        return list(
            session.scalars(
                select(Alert)
                .where(col(Alert.kind) == kind, col(Alert.flag_id) == flag_id)
                .order_by(col(Alert.authority))
            )
        )


def delivered(webhook: Webhook, before: int) -> dict[str, dict[str, Any]]:
    """What each office received since `before`, by its receiver path."""
    return {hit["path"].strip("/"): hit for hit in webhook.received[before:]}


@pytest.mark.parametrize(
    ("to_state", "subject"),
    [(FlagState.CONFIRMED, "经核实属实"), (FlagState.DISMISSED, "经核实排除")],
)
def test_a_staff_decision_is_announced_to_every_office_told_from_its_audit_entry(
    engine: Engine, office: Alerting, webhook: Webhook, to_state: FlagState, subject: str
) -> None:
    flag_id = told(engine, office, ADVANCED, "art12.3-major-accident")
    before = len(webhook.received)
    _, audit = decide(
        engine,
        flag_id,
        to_state,
        operator=BUREAU,
        reason="经现场核实，事故等级为较大",
        outbox=office.outbox,
    )
    written = notices(engine, "decision", flag_id)
    assert {a.authority for a in written} == {"municipal", "110108"}
    assert {a.audit_id for a in written} == {audit.id}
    assert office.dispatcher.dispatch_due().sent == 2
    got = delivered(webhook, before)
    assert set(got) == {"municipal", "110108"}
    for hit in got.values():
        assert hit["title"] == f"{subject}：第十二条第（三）项｜北京智联精密机械有限公司"
        assert "市经信局 李明" in hit["message"]
        assert "经现场核实，事故等级为较大" in hit["message"]


def test_a_reopened_flag_is_announced_with_the_reopening_not_the_dismissal(
    engine: Engine, office: Alerting, webhook: Webhook
) -> None:
    flag_id = told(engine, office, BASIC, "art12.5-penalty")
    decide(
        engine,
        flag_id,
        FlagState.DISMISSED,
        operator=FENGTAI,
        reason="同名企业",
        outbox=office.outbox,
    )
    _, audit = decide(
        engine,
        flag_id,
        FlagState.OPEN,
        operator=BUREAU,
        reason="处罚决定书确系本企业",
        outbox=office.outbox,
    )
    before = len(webhook.received)
    assert office.dispatcher.dispatch_due().sent == 2  # the dismissal's and the reopening's
    dismissal, reopening = webhook.received[before:]
    assert (
        dismissal["title"].startswith("经核实排除") and "丰台区经信局 王芳" in dismissal["message"]
    )
    assert (
        reopening["title"].startswith("重新核查") and "处罚决定书确系本企业" in reopening["message"]
    )
    assert "同名企业" not in reopening["message"]
    assert {a.audit_id for a in notices(engine, "decision", flag_id)} >= {audit.id}
    assert {a.authority for a in notices(engine, "decision", flag_id)} == {"110106"}


def test_a_flag_dismissed_before_its_digest_went_out_tells_nobody(
    engine: Engine, office: Alerting
) -> None:
    spec = RULES["art12.5-penalty"]
    flag = raise_for(
        engine, BASIC, "art12.5-penalty", operator=BUREAU, reason="x", outbox=office.outbox
    )
    assert flag.severity == spec.severity
    decide(
        engine, flag.id or 0, FlagState.DISMISSED, operator=BUREAU, reason="y", outbox=office.outbox
    )
    assert notices(engine, "decision", flag.id or 0) == []
    [held] = notices(engine, "flag", flag.id or 0)
    assert held.status == "bundled" and held.digest_id is None


def test_a_revocation_is_announced_with_its_date_document_reason_and_officer(
    engine: Engine, office: Alerting, webhook: Webhook
) -> None:
    flag_id = told(engine, office, ADVANCED, "art12.3-major-accident")
    before = len(webhook.received)
    revoke_factory(
        engine,
        ADVANCED,
        decided_on=date(2026, 11, 20),
        reference="京经信发〔2026〕88号",
        reason="发生重大生产安全事故",
        operator=BUREAU,
        outbox=office.outbox,
    )
    written = notices(engine, "closing", flag_id)
    assert {a.authority for a in written} == {"municipal", "110108"}
    with Session(engine) as session:
        [event] = session.scalars(
            select(DesignationEvent).where(col(DesignationEvent.kind) == "revoked")
        ).all()
        audit = session.get(FlagAudit, written[0].audit_id)
    assert {a.event_id for a in written} == {event.id}
    assert event.actor_name == "市经信局 李明" and event.actor == "li"
    assert audit is not None and audit.actor_name == "市经信局 李明"
    assert office.dispatcher.dispatch_due().sent == 2
    for hit in delivered(webhook, before).values():
        assert hit["title"] == "已撤销称号：第十二条第（三）项｜北京智联精密机械有限公司"
        for part in ("2026-11-20", "京经信发〔2026〕88号", "发生重大生产安全事故", "市经信局 李明"):
            assert part in hit["message"]


def test_a_rename_closed_before_a_revocation_is_announced_as_the_rename(
    engine: Engine, office: Alerting, webhook: Webhook
) -> None:
    """The closing notice is rendered from the decision it stores, not from the
    enterprise's latest event: here a revocation recorded before the notice went out."""
    new_name = "北京智联智能装备有限公司"
    flag_id = told(
        engine, office, ADVANCED, "art12-rename-pending", f"name:{normalise_name(new_name)}"
    )
    rename_factory(
        engine,
        ADVANCED,
        new_name=new_name,
        approved_on=date(2026, 11, 10),
        reference="京经信函〔2026〕7号",
        operator=BUREAU,
        outbox=office.outbox,
    )
    revoke_factory(
        engine,
        ADVANCED,
        decided_on=date(2026, 11, 20),
        reference="京经信发〔2026〕88号",
        reason="发生重大生产安全事故",
        operator=BUREAU,
        outbox=office.outbox,
    )
    with Session(engine) as session:
        announced = {
            session.get(DesignationEvent, alert.event_id).kind  # type: ignore[union-attr]
            for alert in notices(engine, "closing", flag_id)
        }
    assert announced == {"renamed"}
    before = len(webhook.received)
    office.dispatcher.dispatch_due()
    closing = [hit for hit in webhook.received[before:] if "第十二条" in hit["title"]]
    assert {hit["path"].strip("/") for hit in closing} == {"municipal", "110108"}
    for hit in closing:
        assert hit["title"].startswith("更名已批准：")
        assert "2026-11-10" in hit["message"] and "京经信函〔2026〕7号" in hit["message"]
        assert "北京智联精密机械有限公司 → 北京智联智能装备有限公司" in hit["message"]
        assert "撤销" not in hit["message"] and "京经信发〔2026〕88号" not in hit["message"]


def test_a_recorded_move_is_announced_to_the_district_told(
    engine: Engine, office: Alerting, webhook: Webhook
) -> None:
    flag_id = told(engine, office, BASIC, "register-district-changed")
    before = len(webhook.received)
    move_factory(
        engine,
        BASIC,
        district="110105",
        decided_on=date(2026, 11, 15),
        reference="丰经信函〔2026〕3号",
        operator=FENGTAI,
        outbox=office.outbox,
    )
    written = notices(engine, "closing", flag_id)
    assert {a.authority for a in written} == {"110106"}
    assert all(a.event_id and a.audit_id for a in written)
    office.dispatcher.dispatch_due()
    got = delivered(webhook, before)
    assert set(got) == {"110106"}
    for hit in got.values():
        assert hit["title"] == "所在区变更已登记：第四条｜北京丰泽食品科技有限公司"
        for part in ("2026-11-15", "丰经信函〔2026〕3号", "丰台区经信局 王芳"):
            assert part in hit["message"]


def test_a_cleared_flag_is_announced_with_what_the_data_now_shows(
    engine: Engine, office: Alerting, webhook: Webhook
) -> None:
    flag_id = told(engine, office, ADVANCED, "art12.3-major-accident")
    with session_scope(engine) as session:
        factory = find_factory(session, ADVANCED)
        book = FlagBook(session, [factory.id or 0], office.outbox)
        book.cleared = {flag_id: "登记状态已恢复为存续"}
        book.write(now_utc())
    written = notices(engine, "closing", flag_id)
    assert {a.authority for a in written} == {"municipal", "110108"}
    with Session(engine) as session:
        audit = session.get(FlagAudit, written[0].audit_id)
    assert audit is not None and audit.to_state == "cleared" and audit.actor == "sfm"
    before = len(webhook.received)
    office.dispatcher.dispatch_due()
    for hit in delivered(webhook, before).values():
        assert hit["title"] == "情况已不存在：第十二条第（三）项｜北京智联精密机械有限公司"
        assert "登记状态已恢复为存续" in hit["message"]
