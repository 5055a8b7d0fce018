"""A move inside Beijing (Article 4) through a real sweep, on both databases: the action
reaches the old district, the new one and (advanced level) the bureau; recording the move
makes routing, scope and the filings follow the enterprise, and resolves the flag."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlmodel import Session, col

from connectors.simulator import RunningSimulator
from monitor.decisions import move_factory
from monitor.errors import BadInput, Refused
from monitor.operators import Operator
from monitor.register.store import import_factories, list_factories
from monitor.storage.models import Alert, Designation, DesignationEvent
from tests.conftest import DEMO_FACTORIES, REGISTRAR
from tests.integration.test_flags import code_of, one, sweep

CHANGPING = Operator("liu", "昌平区经信局 刘洋", ("110114",))
CHAOYANG = Operator("zhao", "朝阳区经信局 赵磊", ("110105",))


@pytest.fixture
def moved(engine: Engine, simulator: RunningSimulator, upstream: dict[str, Any]) -> Engine:
    import_factories(engine, DEMO_FACTORIES, operator=REGISTRAR)
    registration = upstream["factories"][code_of(upstream, "智联精密")]["registration"]
    registration.update(
        authority="北京市昌平区市场监督管理局",
        division_code="110114",
        address="北京市昌平区科技园区超前路9号",
    )
    sweep(engine, simulator)
    return engine


def test_a_move_inside_beijing_is_raised_routed_and_recorded(
    moved: Engine, upstream: dict[str, Any]
) -> None:
    code = code_of(upstream, "智联精密")
    flag = one(moved, "register-district-changed", "智联精密")
    assert (flag.severity, flag.state) == ("action", "open")
    with Session(moved) as session:
        told = set(
            session.scalars(
                select(col(Alert.authority)).where(
                    col(Alert.flag_id) == flag.id, col(Alert.kind) == "flag"
                )
            )
        )
    assert told == {"municipal", "110108", "110114"}  # advanced: the bureau too

    with pytest.raises(Refused):  # neither district nor the bureau
        move_factory(
            moved,
            code,
            district="昌平区",
            decided_on=date(2026, 11, 30),
            reference=None,
            operator=CHAOYANG,
            outbox=None,
        )
    with pytest.raises(BadInput):
        move_factory(
            moved,
            code,
            district="海淀区",
            decided_on=date(2026, 11, 30),
            reference=None,
            operator=CHANGPING,
            outbox=None,
        )
    factory, former = move_factory(
        moved,
        code,
        district="昌平",
        decided_on=date(2026, 11, 30),
        reference="昌经信备〔2026〕3号",
        operator=CHANGPING,
        outbox=None,
    )
    assert (former, factory.district_code) == (["110108"], "110114")
    assert one(moved, "register-district-changed", "智联精密").state == "resolved"
    with Session(moved) as session:
        districts = set(
            session.scalars(
                select(col(Designation.district_code)).where(
                    col(Designation.factory_id) == factory.id
                )
            )
        )
        event = session.scalars(
            select(DesignationEvent)
            .where(col(DesignationEvent.factory_id) == factory.id)
            .order_by(col(DesignationEvent.id).desc())
        ).first()
    assert districts == {"110114"}
    assert event is not None and event.reference == "昌经信备〔2026〕3号"
    assert "海淀区" in (event.reason or "") and "昌平区" in (event.reason or "")
    assert code in {f.credit_code for f in list_factories(moved, district="昌平")}
    assert code not in {f.credit_code for f in list_factories(moved, district="海淀")}


def test_staff_record_a_move_from_the_cli(cli: Any) -> None:
    assert cli("factories", "import", str(DEMO_FACTORIES)).code == 0
    code = "911101085214771897"  # 北京智联精密机械有限公司, 海淀
    moved = cli("factories", "move", code, "--district", "昌平", "--decided-on", "2026-11-30")
    assert moved.code == 0, moved.err
    assert "已登记区变更" in moved.out and "海淀区 → 昌平区" in moved.out
    again = cli("factories", "move", code, "--district", "昌平区", "--decided-on", "2026-11-30")
    assert again.code == 2 and "无需变更" in again.err
    unknown = cli("factories", "move", code, "--district", "Gotham", "--decided-on", "2026-11-30")
    assert unknown.code == 2
    assert '"district": "昌平区"' in cli("factories", "show", code, "--json").out
