"""Who decides (Article 4 and DESIGN §7), for every level × severity × scope, on SQLite and
PostgreSQL: the bureau decides everything; a district decides its own enterprises' flags,
except an advanced-level enterprise's revocation case, on which it may add a note; an office
outside the enterprise's districts decides nothing. Scope reads the designations, as routing
does."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlmodel import Session, col

from monitor.decisions import add_note, decide, raise_for
from monitor.errors import Refused
from monitor.operators import Operator
from monitor.register.store import import_factories
from monitor.storage.models import Flag, FlagAudit
from monitor.vocabulary import FlagState
from tests.conftest import REGISTRAR

BUREAU = Operator("li", "市经信局 李明", "municipal")
HAIDIAN = Operator("wang", "海淀区经信局 王芳", ("110108",))
CHAOYANG = Operator("zhao", "朝阳区经信局 赵磊", ("110105",))
CHANGPING = Operator("liu", "昌平区经信局 刘洋", ("110114",))
REGISTER = """统一社会信用代码,企业名称,级别,所在区,认定日期,工厂名称
911101085214771897,北京智联精密机械有限公司,先进级,海淀区,2025-06-30,
911101081235534499,北京华芯微电子装备有限公司,基础级,海淀区,2025-06-30,
911101081235534499,北京华芯微电子装备有限公司,基础级,昌平区,2025-08-01,华芯昌平工厂
"""
ADVANCED, BASIC = "911101085214771897", "911101081235534499"
RULE_OF = {
    "revocation": "art12.1-false-information",
    "review": "art12.5-penalty",
    "action": "art12-rename-pending",
}


@pytest.fixture
def register(engine: Engine, tmp_path: Path) -> Engine:
    source = tmp_path / "register.csv"
    source.write_text(REGISTER, encoding="utf-8")
    import_factories(engine, source, operator=REGISTRAR)
    return engine


def flag_for(engine: Engine, code: str, severity: str) -> int:
    flag = raise_for(engine, code, RULE_OF[severity], operator=BUREAU, reason="x", outbox=None)
    assert flag.severity == severity
    return flag.id or 0


ALLOWED = {
    # (operator, level, severity) → may decide
    **{("bureau", level, sev): True for level in ("basic", "advanced") for sev in RULE_OF},
    ("haidian", "basic", "revocation"): True,
    ("haidian", "basic", "review"): True,
    ("haidian", "basic", "action"): True,
    ("haidian", "advanced", "revocation"): False,  # the bureau's: a note only
    ("haidian", "advanced", "review"): True,
    ("haidian", "advanced", "action"): True,
    **{("chaoyang", level, sev): False for level in ("basic", "advanced") for sev in RULE_OF},
}
OPERATORS = {"bureau": BUREAU, "haidian": HAIDIAN, "chaoyang": CHAOYANG}


@pytest.mark.parametrize(("who", "level", "severity"), sorted(ALLOWED))
def test_who_may_decide(register: Engine, who: str, level: str, severity: str) -> None:
    flag_id = flag_for(register, ADVANCED if level == "advanced" else BASIC, severity)
    operator = OPERATORS[who]
    if ALLOWED[(who, level, severity)]:
        decided, _ = decide(register, flag_id, FlagState.DISMISSED, operator=operator, reason="r")
        assert decided.state == "dismissed"
    else:
        with pytest.raises(Refused):
            decide(register, flag_id, FlagState.DISMISSED, operator=operator, reason="r")
        with Session(register) as session:
            assert session.get(Flag, flag_id).state == "open"  # type: ignore[union-attr]


def test_a_district_notes_an_advanced_revocation_case_for_the_bureau(register: Engine) -> None:
    flag_id = flag_for(register, ADVANCED, "revocation")
    with pytest.raises(Refused, match=r"市经济和信息化局决定|municipal bureau's to decide"):
        decide(register, flag_id, FlagState.DISMISSED, operator=HAIDIAN, reason="同名企业")
    add_note(register, flag_id, operator=HAIDIAN, text="经现场核实，企业仍在正常生产")
    with pytest.raises(Refused):
        add_note(register, flag_id, operator=CHAOYANG, text="x")
    with Session(register) as session:
        trail = list(
            session.scalars(
                select(FlagAudit).where(col(FlagAudit.flag_id) == flag_id).order_by(FlagAudit.id)
            )
        )
        flag = session.get(Flag, flag_id)
    assert flag is not None and flag.state == "open"
    assert [(a.from_state, a.to_state, a.actor) for a in trail][-1] == ("open", "open", "wang")
    assert trail[-1].reason == "经现场核实，企业仍在正常生产"


def test_an_office_of_any_of_the_enterprises_districts_decides(register: Engine) -> None:
    """华芯 holds designations in 海淀 and 昌平: both are alerted, so both may decide."""
    flag_id = flag_for(register, BASIC, "review")
    decided, _ = decide(register, flag_id, FlagState.CONFIRMED, operator=CHANGPING, reason="属实")
    assert decided.state == "confirmed"


def test_staff_add_a_note_from_the_cli(cli: object) -> None:
    from tests.conftest import DEMO_FACTORIES, Cli

    assert isinstance(cli, Cli)
    assert cli("factories", "import", str(DEMO_FACTORIES)).code == 0
    raised = cli("flags", "raise", ADVANCED, "--rule", "art12.5-penalty", "--reason", "外部线索")
    assert raised.code == 0, raised.err
    noted = cli("flags", "note", "1", "--text", "区里已电话核实")
    assert noted.code == 0 and "已为标记 1 添加核实情况" in noted.out
    shown = cli("flags", "show", "1")
    assert "备注" in shown.out and "区里已电话核实" in shown.out
    # the audit shows who decided by their configured name, the login beside it
    trail = cli("audit", "--json").out
    assert '"actor_name"' in trail
    assert cli("flags", "note", "1", "--text", "  ").code == 2
    assert cli("flags", "note", "99", "--text", "x").code == 4
