"""Data shaped as real providers write it, through the real HTTP path (the simulator on
loopback, the shipped connectors), on SQLite and PostgreSQL: one answer per topic holding a
placeholder, an epoch-ms date, a 12-digit division code, a fine in words and an unknown
enumerated value keeps every other record of that answer, and none of it is lost."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, select

from connectors.simulator import RunningSimulator
from monitor.register.store import import_factories
from monitor.storage.models import Factory, Flag
from tests.conftest import DEMO_FACTORIES, REGISTRAR
from tests.integration.test_flags import code_of, flags, one, sweep


def flags_of(engine: Engine, code: str) -> list[Flag]:
    with Session(engine) as session:
        factory = session.exec(select(Factory).where(Factory.credit_code == code)).one()
        return list(session.exec(select(Flag).where(Flag.factory_id == factory.id)).all())


def beijing_midnight_ms(day: str) -> int:
    moment = datetime.fromisoformat(day + "T00:00:00+08:00")
    return int(moment.astimezone(UTC).timestamp() * 1000)


def test_provider_shaped_answers_keep_every_readable_record(
    engine: Engine, simulator: RunningSimulator, upstream: dict[str, Any]
) -> None:
    import_factories(engine, DEMO_FACTORIES, operator=REGISTRAR)
    # 门头沟, designated 2025-09-01: a penalty decided that very day, as epoch ms of Beijing
    # midnight, its fine in words and its removal date "-"; a record of a kind no mapping
    # knows; the serious-violation listing it already had
    credit = upstream["factories"][code_of(upstream, "门头沟")]["credit"]
    credit += [
        {
            "id": "XZCF-2025-0901",
            "type": "行政处罚",
            "decided_on": beijing_midnight_ms("2025-09-01"),
            "authority": "北京市门头沟区应急管理局",
            "document_no": "京门应急罚〔2025〕12号",
            "fine": "罚款人民币5万元",
            "reason": "未按规定开展安全培训",
            "removed_on": "-",
        },
        {"id": "ZLGZ-2026-1", "type": "责令改正通知", "decided_on": "2026-02-01"},
    ]
    # 智联精密: a township-level division code, and its status 注销
    registration = upstream["factories"][code_of(upstream, "智联精密")]["registration"]
    registration.update(division_code="110108001001", status="注销")
    # 石景山: the accident's deaths written "5人", its loss unreadable
    accident = upstream["factories"][code_of(upstream, "石景山")]["safety"][0]
    accident.update(deaths="5人", direct_loss="不详")

    sweep(engine, simulator)

    mentougou = flags_of(engine, code_of(upstream, "门头沟"))
    penalty = {f.evidence["record_id"]: f for f in mentougou if f.rule_id == "art12.5-penalty"}
    assert set(penalty) == {"YZWF-2026-0009", "XZCF-2025-0901"}  # the listing is kept too
    decided = penalty["XZCF-2025-0901"].evidence
    assert decided["decided_on"] == "2025-09-01"  # the designation day, not the day before
    assert decided["fine_cny"] == 50_000
    assert decided.get("removed_on") is None
    assert not [f for f in mentougou if f.rule_id == "art5.3-prior-violation"]
    [unknown] = [f for f in mentougou if f.rule_id == "data-unknown-value"]
    assert unknown.evidence["field"] == "kind" and unknown.evidence["text"] == "责令改正通知"

    terminated = one(engine, "art12.2-terminated", "智联精密")  # the answer was not lost
    assert terminated.state == "open"
    assert not [r for (r, name) in flags(engine) if "智联精密" in name and r.startswith("art12.4")]

    large = one(engine, "art12.3-large-accident", "石景山")  # 5 deaths: 较大
    assert large.evidence["deaths"] == 5
    loss = [
        f
        for f in flags_of(engine, code_of(upstream, "石景山"))
        if f.rule_id == "data-unknown-value"
    ]
    assert [(f.evidence["field"], f.evidence["text"]) for f in loss] == [
        ("direct_loss_cny", "不详")
    ]
