"""The outbox's timing: digests, reminders, escalation, closing notices (frozen clock)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select, update
from sqlmodel import Session, col

from connectors.simulator import RunningSimulator
from monitor.alerts.service import alerting_for
from monitor.clock import now_utc
from monitor.config import LoadedConfig, load_config
from monitor.register.store import import_factories
from monitor.storage.db import session_scope
from monitor.storage.models import Alert, Factory, Flag
from monitor.sweep.run import run_sweep
from tests.conftest import DEMO_FACTORIES, REGISTRAR, shipped_connector
from tests.integration.alerts.conftest import Webhook, write_alert_config

SHIPPED = ("registry-qcc", "credit-qcc", "safety-tyc")


@pytest.fixture
def setup(
    engine: Engine, database_url: str, tmp_path: Path, webhook: Webhook, simulator: RunningSimulator
) -> dict[str, Any]:
    import_factories(engine, DEMO_FACTORIES, operator=REGISTRAR)
    everyone = {
        key: [webhook.url(key)]
        for key in (
            "municipal",
            "ops",
            "110101",
            "110102",
            "110105",
            "110106",
            "110107",
            "110108",
            "110109",
            "110111",
            "110112",
            "110113",
            "110114",
            "110115",
            "110116",
            "110117",
            "110118",
            "110119",
            "110302",
        )
    }
    path = write_alert_config(
        tmp_path,
        database_url,
        everyone,
        extra="reminder_after_days = 10\nescalate_after_days = 20\n",
    )
    loaded = load_config(path, environ={})
    connectors = [shipped_connector(name, simulator.base_url) for name in SHIPPED]
    config = LoadedConfig(
        settings=loaded.settings.model_copy(update={"connectors": connectors}), path=loaded.path
    )
    alerting = alerting_for(engine, config)
    asyncio.run(run_sweep(engine, config, outbox=alerting.outbox))
    alerting.dispatcher.dispatch_due()
    return {
        "engine": engine,
        "config": config,
        "alerting": alerting,
        "webhook": webhook,
        "simulator": simulator,
    }


def rows(engine: Engine, kind: str | None = None) -> list[Alert]:
    with Session(engine) as session:
        query = select(Alert).order_by(col(Alert.id))
        if kind:
            query = query.where(col(Alert.kind) == kind)
        return list(session.scalars(query))


def test_review_flags_wait_for_one_digest_per_authority(setup: dict[str, Any]) -> None:
    engine, alerting, webhook = setup["engine"], setup["alerting"], setup["webhook"]
    immediate = len(webhook.received)
    held = [a for a in rows(engine, "flag") if a.status == "held"]
    authorities = {a.authority for a in held}
    assert len(held) > len(authorities)  # some authority has several items
    with session_scope(engine) as session:
        digests = alerting.outbox.make_digests(session, now_utc())
    assert len(digests) == len(authorities)
    report = alerting.dispatcher.dispatch_due()
    assert report.sent == len(authorities)
    assert all(
        a.status == "bundled" and a.digest_id
        for a in rows(engine, "flag")
        if a.id in {h.id for h in held}
    )
    bureau = [h for h in webhook.received[immediate:] if h["path"] == "/municipal"]
    assert len(bureau) == 1 and "待核查事项汇总" in bureau[0]["title"]
    held_for_bureau = sum(1 for a in held if a.authority == "municipal")
    assert f"共 {held_for_bureau} 项" in bureau[0]["title"]
    with session_scope(engine) as session:  # nothing left to bundle: no empty digests
        assert alerting.outbox.make_digests(session, now_utc()) == []


def test_digests_started_at_once_make_one_per_authority_and_none_empty(
    setup: dict[str, Any],
) -> None:
    import threading

    engine, alerting = setup["engine"], setup["alerting"]
    authorities = {a.authority for a in rows(engine, "flag") if a.status == "held"}
    made: list[list[int]] = []
    barrier = threading.Barrier(3)

    def digest() -> None:
        barrier.wait()
        with session_scope(engine) as session:
            made.append(alerting.outbox.make_digests(session, now_utc()))

    threads = [threading.Thread(target=digest) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    digests = [a for a in rows(engine, "digest")]
    assert sorted(a.authority for a in digests) == sorted(authorities)
    bundled = {a.digest_id for a in rows(engine, "flag") if a.status == "bundled"}
    assert bundled == {a.id for a in digests}  # every digest carries items
    assert sum(len(ids) for ids in made) == len(authorities)


def test_reminders_repeat_and_escalation_happens_once(setup: dict[str, Any]) -> None:
    engine, alerting = setup["engine"], setup["alerting"]
    start = now_utc()
    with session_scope(engine) as session:
        assert alerting.outbox.make_reminders(session, start + timedelta(days=9)) == 0
    with session_scope(engine) as session:
        first = alerting.outbox.make_reminders(session, start + timedelta(days=10, hours=1))
    told = rows(engine, "flag")
    assert first == len(told)  # one reminder per (flag, authority) told
    with session_scope(engine) as session:
        assert alerting.outbox.make_reminders(session, start + timedelta(days=11)) == 0
    with session_scope(engine) as session:
        alerting.outbox.make_reminders(session, start + timedelta(days=20, hours=1))
    escalations = rows(engine, "escalation")
    open_flags = {a.flag_id for a in told}
    assert {e.flag_id for e in escalations} == open_flags
    assert {e.authority for e in escalations} == {"municipal"}
    with session_scope(engine) as session:
        alerting.outbox.make_reminders(session, start + timedelta(days=25))
    assert len(rows(engine, "escalation")) == len(escalations)
    assert len(rows(engine, "reminder")) == 2 * len(told)  # day 10 and day 20
    report = alerting.dispatcher.dispatch_due(now=start + timedelta(days=25))
    assert report.sent == len(rows(engine, "reminder")) + len(escalations)
    titles = [h["title"] for h in setup["webhook"].received]
    assert any(t.startswith("长期未办理事项报告｜") for t in titles)
    assert any(t.startswith("再次提醒｜") for t in titles)
    assert not [t for t in titles if "sfm" in t or "标记" in t]


def test_decided_flags_are_not_reminded(setup: dict[str, Any]) -> None:
    engine, alerting = setup["engine"], setup["alerting"]
    with session_scope(engine) as session:
        session.execute(update(Flag).values(state="confirmed"))
    with session_scope(engine) as session:
        assert alerting.outbox.make_reminders(session, now_utc() + timedelta(days=30)) == 0


def test_a_cleared_flag_sends_a_closing_notice_to_whoever_was_told(setup: dict[str, Any]) -> None:
    engine, alerting, simulator = setup["engine"], setup["alerting"], setup["simulator"]
    code = next(
        c for c, e in simulator.simulator.factories.items() if e["registration"]["status"] == "注销"
    )
    simulator.simulator.factories[code]["registration"]["status"] = "存续"
    asyncio.run(run_sweep(engine, setup["config"], outbox=alerting.outbox))
    [cleared] = [f for f in _flags(engine) if f.state == "cleared"]
    told = {a.authority for a in rows(engine, "flag") if a.flag_id == cleared.id}
    closing = [a for a in rows(engine, "closing") if a.flag_id == cleared.id]
    assert {a.authority for a in closing} == told and told
    before = len(setup["webhook"].received)
    assert alerting.dispatcher.dispatch_due().sent == len(closing)
    assert all(h["title"].startswith("情况已不存在：") for h in setup["webhook"].received[before:])


def _flags(engine: Engine) -> list[Flag]:
    with Session(engine) as session:
        return list(session.scalars(select(Flag)))


def test_a_recorded_revocation_sends_closing_notices(setup: dict[str, Any]) -> None:
    from datetime import date

    from monitor.decisions import revoke_factory
    from monitor.operators import Operator

    engine, alerting, simulator = setup["engine"], setup["alerting"], setup["simulator"]
    code = next(
        c
        for c, e in simulator.simulator.factories.items()
        if "南苑航空" in e["registration"]["name"]
    )
    revoke_factory(
        engine,
        code,
        decided_on=date(2026, 11, 24),
        reference="京经信发〔2026〕30号",
        reason="12(3)",
        operator=Operator("li", "李明", "municipal"),
        outbox=alerting.outbox,
    )
    [resolved] = [f for f in _flags(engine) if f.state == "resolved"]
    closing = [a for a in rows(engine, "closing") if a.flag_id == resolved.id]
    assert {a.authority for a in closing} == {"municipal", "110106"}
    before = len(setup["webhook"].received)
    assert alerting.dispatcher.dispatch_due().sent == 2
    assert all(h["title"].startswith("已撤销称号：") for h in setup["webhook"].received[before:])


def test_alerts_in_english(setup: dict[str, Any]) -> None:
    from monitor.alerts.render import Renderer

    dispatcher = setup["alerting"].dispatcher
    english = dispatcher.settings.model_copy(update={"language": "en"})
    dispatcher.settings = english
    dispatcher.renderer = Renderer(None, "en", english.im_max_chars)
    flag_alert = next(a for a in rows(setup["engine"], "flag") if a.status == "held")
    with Session(setup["engine"]) as session:
        rendered = dispatcher.render(session, flag_alert, now_utc())
    assert "[sfm]" not in rendered.subject and " | " in rendered.subject
    assert "Credit code" in rendered.full and "sfm flags confirm" in rendered.full
    assert "疑似撤销情形" not in rendered.full and "待核查" not in rendered.full


def test_a_flag_reaches_the_authorities_of_every_designation_of_its_enterprise(
    setup: dict[str, Any], tmp_path: Path
) -> None:
    from monitor.decisions import raise_for, revoke_factory
    from monitor.operators import Operator
    from monitor.register.store import designations_of

    engine = setup["engine"]
    bureau = Operator("li", "李明", "municipal")
    # a Haidian enterprise, designated basic there, adds a factory in Daxing
    with session_scope(engine) as session:
        code = session.scalars(
            select(col(Factory.credit_code)).where(
                col(Factory.district_code) == "110108", col(Factory.level) == "basic"
            )
        ).first()
        name = session.scalars(
            select(col(Factory.name)).where(col(Factory.credit_code) == code)
        ).one()
    assert code is not None
    extra = tmp_path / "daxing.csv"
    extra.write_text(
        "统一社会信用代码,企业名称,级别,所在区,认定日期,工厂名称,文号\n"
        f"{code},{name},基础级,大兴区,2026-01-15,亦庄工厂,兴经信备〔2026〕2号\n",
        encoding="utf-8",
    )
    import_factories(engine, extra, operator=REGISTRAR)
    # Article 6: Daxing files the new basic-level factory in its quarter
    from monitor.calendar import Quarter
    from monitor.reports import filings_report

    [filed] = filings_report(engine, Quarter.parse("2026Q1"), "110115")
    assert filed[0] == code and "亦庄工厂" in filed[1] and filed[3] == "2026-01-15"
    flag = raise_for(
        engine,
        code,
        "art12.5-penalty",
        operator=bureau,
        outbox=setup["alerting"].outbox,
        reason="区市场监管局罚款",
    )
    told = {alert.authority for alert in rows(engine, "flag") if alert.flag_id == flag.id}
    assert told == {"110108", "110115"}  # both districts; a review of basic level: no bureau
    revoke_factory(
        engine,
        code,
        decided_on=now_utc().date(),
        reference="京经信发〔2026〕12号",
        reason="处罚后不再符合条件",
        operator=bureau,
        outbox=None,
    )
    assert {d.status for d in designations_of(engine, code)} == {"revoked"}
