"""Flags from real sweeps over the simulator, their lifecycle and audit, on both databases."""

import asyncio
import csv
import json
import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import Engine, select
from sqlmodel import Session, col

from connectors.simulator import RunningSimulator
from monitor.config import LoadedConfig, Settings
from monitor.decisions import decide, raise_for, rename_factory, revoke_factory
from monitor.errors import BadInput, Refused
from monitor.operators import Operator
from monitor.register.store import import_factories
from monitor.storage.models import Flag, FlagAudit
from monitor.sweep.run import run_sweep
from monitor.vocabulary import FlagState
from tests.conftest import DEMO_FACTORIES, REGISTRAR, Cli, shipped_connector

BUREAU = Operator("li", "李明", "municipal")
HAIDIAN = Operator("wang", "王芳", ("110108",))
SHIPPED = ("registry-qcc", "credit-qcc", "safety-tyc")


def config_for(simulator: RunningSimulator, **changes: Any) -> LoadedConfig:
    connectors = [shipped_connector(name, simulator.base_url, **changes) for name in SHIPPED]
    return LoadedConfig(settings=Settings(connectors=connectors), path=None)


def sweep(engine: Engine, simulator: RunningSimulator, **changes: Any) -> dict[str, Any]:
    summary = asyncio.run(run_sweep(engine, config_for(simulator, **changes)))
    assert summary.evaluation is not None
    return summary.evaluation.as_json()


def flags(engine: Engine) -> dict[tuple[str, str], Flag]:
    """(rule, factory name) → flag, as the demo data raise them."""
    from monitor.storage.models import Factory

    with Session(engine) as session:
        rows = session.execute(
            select(Flag, Factory.name).join(Factory, col(Factory.id) == col(Flag.factory_id))
        ).all()
    return {(flag.rule_id, name): flag for flag, name in rows}


def all_flags(engine: Engine) -> list[Flag]:
    with Session(engine) as session:
        return list(session.scalars(select(Flag).order_by(col(Flag.id))))


def one(engine: Engine, rule: str, fragment: str) -> Flag:
    [flag] = [f for (r, name), f in flags(engine).items() if r == rule and fragment in name]
    return flag


def code_of(upstream: dict[str, Any], fragment: str) -> str:
    return next(
        code
        for code, entry in upstream["factories"].items()
        if fragment in entry["registration"]["name"]
        or any(fragment in n for n in entry["registration"]["former_names"])
    )


@pytest.fixture
def swept(engine: Engine, simulator: RunningSimulator) -> Engine:
    import_factories(engine, DEMO_FACTORIES, operator=REGISTRAR)
    sweep(engine, simulator)
    return engine


EXPECTED = {
    ("art12.2-terminated", "华芯微电子"),
    ("art12.2-terminated", "朝晖食品"),
    ("art12.4-relocated", "东方明光"),
    ("art12-rename-pending", "丰泰"),
    ("art12.3-major-accident", "南苑航空"),
    ("art12.3-large-accident", "石景山"),
    ("art12.5-penalty", "门头沟"),
    ("art12.5-penalty", "燕化"),
    ("art12.2-not-operating", "良乡"),
    ("data-unknown-status", "环宇"),
    ("art12-rename-pending", "运河"),
    ("art12.3-major-accident", "顺义新能源"),
    ("art12.2-not-operating", "沙河"),
    ("data-not-found", "潞城"),
}


def test_the_demo_upstream_raises_exactly_the_expected_flags(swept: Engine) -> None:
    raised = {(rule, name) for rule, name in flags(swept)}
    assert len(raised) == len(EXPECTED)
    for rule, fragment in EXPECTED:
        assert any(r == rule and fragment in name for r, name in raised), (rule, fragment)
    assert all(flag.state == "open" for flag in flags(swept).values())
    with Session(swept) as session:
        opened = session.scalars(select(FlagAudit)).all()
    assert len(opened) == len(EXPECTED) and {a.to_state for a in opened} == {"open"}


def test_same_evidence_again_is_the_same_flag(swept: Engine, simulator: RunningSimulator) -> None:
    before = {flag.id: flag.last_seen_at for flag in flags(swept).values()}
    result = sweep(swept, simulator)
    assert (result["flags_opened"], result["flags_seen_again"]) == (0, len(EXPECTED))
    after = {flag.id: flag.last_seen_at for flag in flags(swept).values()}
    assert after.keys() == before.keys() and all(after[k] >= before[k] for k in before)


def test_dismissed_stays_dismissed_while_evidence_is_unchanged_and_new_evidence_is_a_new_flag(
    swept: Engine, simulator: RunningSimulator, upstream: dict[str, Any]
) -> None:
    flag = one(swept, "art12.2-terminated", "华芯微电子")
    decide(swept, flag.id or 0, FlagState.DISMISSED, operator=BUREAU, reason="注销的是同名分公司")
    sweep(swept, simulator)
    assert one(swept, "art12.2-terminated", "华芯微电子").state == "dismissed"
    code = code_of(upstream, "华芯微电子")
    simulator.simulator.factories[code]["registration"]["status"] = "吊销，未注销"
    sweep(swept, simulator)
    mine = sorted(
        (f.evidence_key, f.state)
        for f in all_flags(swept)
        if f.rule_id == "art12.2-terminated" and f.factory_id == flag.factory_id
    )
    assert mine == [("status:deregistered", "dismissed"), ("status:license_revoked", "open")]


def test_an_error_after_a_firing_condition_clears_nothing_and_the_condition_going_away_does(
    swept: Engine, simulator: RunningSimulator, upstream: dict[str, Any]
) -> None:
    code = code_of(upstream, "沙河")
    simulator.simulator.behaviour.fail_codes = {code: "503"}
    sweep(swept, simulator, retries=0)
    assert one(swept, "art12.2-not-operating", "沙河").state == "open"
    simulator.simulator.behaviour.fail_codes = {}
    simulator.simulator.factories[code]["registration"]["status"] = "存续"
    result = sweep(swept, simulator)
    assert result["flags_cleared"] == 1
    cleared = one(swept, "art12.2-not-operating", "沙河")
    assert cleared.state == "cleared"
    decide(swept, cleared.id or 0, FlagState.OPEN, operator=BUREAU, reason="停业公告仍有效")
    assert one(swept, "art12.2-not-operating", "沙河").state == "open"


def test_a_status_that_flaps_opens_the_same_flag_again_audited_as_recurred_and_alerts_twice(
    swept: Engine, simulator: RunningSimulator, upstream: dict[str, Any]
) -> None:
    from monitor.storage.models import Alert

    code = code_of(upstream, "华芯微电子")
    flag = one(swept, "art12.2-terminated", "华芯微电子")
    registration = simulator.simulator.factories[code]["registration"]
    registration["status"] = "存续"
    assert sweep(swept, simulator)["flags_cleared"] == 1
    registration["status"] = "注销"
    assert sweep(swept, simulator)["flags_recurred"] == 1
    again = one(swept, "art12.2-terminated", "华芯微电子")
    assert (again.id, again.state) == (flag.id, "open")
    with Session(swept) as session:
        trail = [
            (a.from_state, a.to_state, a.reason)
            for a in session.scalars(
                select(FlagAudit)
                .where(col(FlagAudit.flag_id) == flag.id)
                .order_by(col(FlagAudit.id))
            )
        ]
        told = [
            a.authority
            for a in session.scalars(
                select(Alert).where(col(Alert.flag_id) == flag.id, col(Alert.kind) == "flag")
            )
        ]
    assert trail[-2:] == [
        ("open", "cleared", "数据源显示该企业登记状态已变为“存续”"),
        ("cleared", "open", "recurred"),
    ]
    assert told.count("municipal") == 2  # once when it was raised, once when it came back


def test_a_recorded_rename_resolves_its_flag_and_a_later_name_raises_a_new_one(
    swept: Engine, simulator: RunningSimulator, upstream: dict[str, Any]
) -> None:
    code = code_of(upstream, "丰泰")
    pending = one(swept, "art12-rename-pending", "丰泰")
    rename_factory(
        swept,
        code,
        new_name="北京丰泰智能轨道交通装备有限公司",
        approved_on=date(2026, 11, 20),
        reference="京经信函〔2026〕8号",
        operator=BUREAU,
        outbox=None,
    )
    assert one(swept, "art12-rename-pending", "丰泰").state == "resolved"
    sweep(swept, simulator)
    assert [
        f.state
        for f in all_flags(swept)
        if f.rule_id == "art12-rename-pending" and f.factory_id == pending.factory_id
    ] == ["resolved"]
    simulator.simulator.factories[code]["registration"]["name"] = "北京丰泰轨道科技集团有限公司"
    sweep(swept, simulator)
    mine = sorted(
        (f.state, f.evidence_key)
        for f in all_flags(swept)
        if f.rule_id == "art12-rename-pending" and f.factory_id == pending.factory_id
    )
    assert mine == [
        ("open", "name:北京丰泰轨道科技集团有限公司"),
        ("resolved", "name:北京丰泰智能轨道交通装备有限公司"),
    ]


def test_recording_a_revocation_resolves_the_factorys_flags(
    swept: Engine, upstream: dict[str, Any]
) -> None:
    flag = one(swept, "art12.3-major-accident", "南苑航空")
    decide(swept, flag.id or 0, FlagState.CONFIRMED, operator=BUREAU, reason="事故调查报告已核实")
    revoke_factory(
        swept,
        code_of(upstream, "南苑航空"),
        decided_on=date(2026, 11, 24),
        reference="京经信发〔2026〕30号",
        reason="12(3)",
        operator=BUREAU,
        outbox=None,
    )
    assert one(swept, "art12.3-major-accident", "南苑航空").state == "resolved"
    with Session(swept) as session:
        trail = session.scalars(
            select(FlagAudit).where(col(FlagAudit.flag_id) == flag.id).order_by(col(FlagAudit.id))
        ).all()
    assert [(a.from_state, a.to_state, a.actor) for a in trail] == [
        (None, "open", "sfm"),
        ("open", "confirmed", "li"),
        ("confirmed", "resolved", "li"),
    ]


def test_impossible_transitions_and_scope_are_refused(swept: Engine) -> None:
    flag = one(swept, "art12.5-penalty", "燕化")  # 房山区
    with pytest.raises(Refused, match="房山区"):
        decide(swept, flag.id or 0, FlagState.CONFIRMED, operator=HAIDIAN, reason="x")
    decide(
        swept,
        flag.id or 0,
        FlagState.DISMISSED,
        operator=BUREAU,
        reason="罚款已缴清，不影响认定条件",
    )
    with pytest.raises(Refused):
        decide(swept, flag.id or 0, FlagState.CONFIRMED, operator=BUREAU, reason="x")
    with pytest.raises(Refused):  # resolving is for recorded decisions, not for staff
        decide(swept, flag.id or 0, FlagState.RESOLVED, operator=BUREAU, reason="x")
    with pytest.raises(BadInput):
        decide(swept, flag.id or 0, FlagState.OPEN, operator=BUREAU, reason="  ")
    assert one(swept, "art12.5-penalty", "燕化").state == "dismissed"


def test_staff_raise_false_information(swept: Engine, upstream: dict[str, Any]) -> None:
    code = code_of(upstream, "智联精密")
    flag = raise_for(
        swept,
        code,
        "art12.1-false-information",
        operator=BUREAU,
        outbox=None,
        reason="申报材料中的营业收入与审计报告不符",
    )
    assert (flag.state, flag.severity, flag.clause) == ("open", "revocation", "12(1)")


def test_staff_raise_under_any_clause_and_a_sweep_never_clears_it(
    swept: Engine, simulator: RunningSimulator, upstream: dict[str, Any]
) -> None:
    code = code_of(upstream, "智联精密")
    flag = raise_for(
        swept,
        code,
        "art12.3-major-accident",
        operator=BUREAU,
        outbox=None,
        reason="应急管理局通报：2026年10月3日车间爆炸，死亡11人",
    )
    assert (flag.severity, flag.clause, flag.topic) == ("revocation", "12(3)", None)
    sweep(swept, simulator)  # the connectors know nothing of it
    assert one(swept, "art12.3-major-accident", "智联精密").state == "open"
    with pytest.raises(BadInput):
        raise_for(swept, code, "data-not-found", operator=BUREAU, outbox=None, reason="x")
    with pytest.raises(BadInput):
        raise_for(swept, code, "art99", operator=BUREAU, outbox=None, reason="x")


def test_audit_rows_cannot_be_changed_or_deleted(swept: Engine) -> None:
    with Session(swept) as session:
        entry = session.scalars(select(FlagAudit)).first()
        assert entry is not None
        entry.reason = "rewritten"
        with pytest.raises(Refused):
            session.commit()
        session.rollback()
        entry = session.scalars(select(FlagAudit)).first()
        session.delete(entry)
        with pytest.raises(Refused):
            session.commit()
        session.rollback()
    with Session(swept) as session:
        assert session.scalars(select(FlagAudit)).first().reason == "rule fired"  # type: ignore[union-attr]


def test_the_database_itself_refuses_changing_or_deleting_audit_rows(
    swept: Engine, upstream: dict[str, Any]
) -> None:
    """Not only the ORM: Core statements and raw SQL hit the tables' triggers (migration 0008)."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from monitor.storage import db

    rename_factory(
        swept,
        code_of(upstream, "丰泰"),
        new_name="北京丰泰智能轨道交通装备有限公司",
        approved_on=date(2026, 11, 20),
        reference="京经信函〔2026〕8号",
        operator=BUREAU,
        outbox=None,
    )
    with swept.connect() as connection:
        events = connection.execute(text("SELECT count(*) FROM designation_event")).scalar()
    statements = [
        "UPDATE flag_audit SET reason = 'rewritten'",
        "DELETE FROM flag_audit",
        "UPDATE designation_event SET reference = 'forged'",
        "DELETE FROM designation_event",
    ]
    if swept.dialect.name == "postgresql":
        statements += ["TRUNCATE flag_audit", "TRUNCATE designation_event"]
    for statement in statements:
        with pytest.raises(DBAPIError, match="append-only"), swept.begin() as connection:
            connection.execute(text(statement))
    with swept.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM designation_event")).scalar() == events
        assert (
            connection.execute(
                text("SELECT count(*) FROM flag_audit WHERE reason = 'rewritten'")
            ).scalar()
            == 0
        )
    # the downgrade lifts the guard, the upgrade puts it back
    from alembic import command

    command.downgrade(db._alembic_config(swept), "0007_designations")
    with swept.begin() as connection:
        connection.execute(text("UPDATE flag_audit SET reason = reason"))
    db.upgrade(swept)
    with pytest.raises(DBAPIError, match="append-only"), swept.begin() as connection:
        connection.execute(text("UPDATE flag_audit SET reason = reason"))


ENGLISH_WORDS = re.compile(
    r"\b(open|confirmed|dismissed|resolved|cleared|revocation|review|action|basic|advanced|"
    r"art\d|data-|rule fired|observed_at|record_id|raw_status|production_safety)\b"
)


def test_filters_take_the_words_tables_print_and_chinese_tables_show_no_english(
    swept: Engine, cli: Cli
) -> None:
    by_word = json.loads(cli("flags", "list", "--severity", "疑似撤销情形", "--json").out)
    by_id = json.loads(cli("flags", "list", "--severity", "revocation", "--json").out)
    assert by_word == by_id and by_word
    open_advanced = json.loads(
        cli("flags", "list", "--state", "待处理", "--level", "先进级", "--json").out
    )
    assert open_advanced and {(r["state"], r["level"]) for r in open_advanced} == {
        ("open", "advanced")
    }
    renames = json.loads(cli("flags", "list", "--rule", "待申请更名", "--json").out)
    assert renames and {r["rule_id"] for r in renames} == {"art12-rename-pending"}
    assert cli("flags", "list", "--state", "不存在的状态").code == 2
    for words in (
        ("flags", "list"),
        ("flags", "show", str(by_word[0]["id"])),
        ("audit",),
    ):
        shown = cli(*words)
        assert shown.code == 0, shown.err
        assert ENGLISH_WORDS.findall(shown.out) == [], (words, shown.out)


def test_flags_cli(
    swept: Engine, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    listed = json.loads(cli("flags", "list", "--severity", "revocation", "--json").out)
    assert {row["severity"] for row in listed} == {"revocation"} and len(listed) == 5
    assert cli("flags", "list", "--state", "bogus").code == 2
    table = cli("flags", "list", "--district", "通州")
    assert table.code == 0 and "运河" in table.out and "南苑" not in table.out
    flag_id = str(listed[0]["id"])
    shown = json.loads(cli("flags", "show", flag_id, "--json").out)
    assert shown["audit"][0]["to"] == "open" and shown["evidence"]
    assert cli("flags", "confirm", flag_id).code == 2  # --reason is required
    assert cli("flags", "confirm", flag_id, "--reason", "核实无误").code == 0
    assert cli("flags", "dismiss", flag_id, "--reason", "改主意").code == 3
    assert cli("flags", "show", "99999").code == 4
    monkeypatch.setenv("SFM_OPERATOR", "wang")
    haidian_only = cli("flags", "confirm", str(listed[1]["id"]), "--reason", "x")
    assert haidian_only.code == 3
    monkeypatch.setenv("SFM_OPERATOR", "li")
    trail = json.loads(cli("audit", "--json").out)
    assert any(e["actor"] == "li" and "confirmed" in e["change"] for e in trail)

    assert cli("export", "flags", str(tmp_path / "flags.csv"), "--format", "csv").code == 0
    with (tmp_path / "flags.csv").open(encoding="utf-8-sig") as handle:
        rows = list(csv.reader(handle))
    assert (
        rows[0][:3] == ["编号", "统一社会信用代码", "企业名称"] and len(rows) == len(EXPECTED) + 1
    )
    assert cli("export", "flags", str(tmp_path / "flags.xlsx"), "--format", "xlsx").code == 0
    sheet = load_workbook(tmp_path / "flags.xlsx").active
    assert sheet is not None and sheet.cell(1, 10).value == "情况"
    assert cli("export", "flags", str(tmp_path / "f.pdf"), "--format", "pdf").code == 2
    assert not (tmp_path / "f.pdf").exists()
    # times are Beijing time, and the header says so
    assert rows[0][10] == "首次发现（北京时间）" and rows[1][10].count(":") == 1


def test_exports_show_formula_looking_cells_as_text(
    swept: Engine, cli: Cli, tmp_path: Path
) -> None:
    """A name from the register or a provider that looks like a formula is never one."""
    from sqlalchemy import update

    from monitor.storage.models import Factory

    hostile = {
        "华芯微电子": '=HYPERLINK("http://evil.example","点此核实")',
        "朝晖食品": "+1+cmd|' /C calc'!A0",
        "东方明光": "@SUM(1+1)",
        "南苑航空": "\t=1+1",
    }
    with swept.begin() as connection:
        for fragment, name in hostile.items():
            connection.execute(
                update(Factory).where(col(Factory.name).contains(fragment)).values(name=name)
            )
    assert cli("export", "flags", str(tmp_path / "flags.csv")).code == 0
    with (tmp_path / "flags.csv").open(encoding="utf-8-sig") as handle:
        names = {row[2] for row in csv.reader(handle)}
    assert {"'" + name for name in hostile.values()} <= names
    assert cli("export", "flags", str(tmp_path / "flags.xlsx")).code == 0
    sheet = load_workbook(tmp_path / "flags.xlsx").active
    assert sheet is not None
    cells = [row[2] for row in sheet.iter_rows(min_row=2)]
    assert all(cell.data_type == "s" for cell in cells)  # strings, not formulas
    assert {"'" + name for name in hostile.values()} <= {cell.value for cell in cells}


def test_export_input_errors_exit_2_and_write_nothing(
    swept: Engine, cli: Cli, tmp_path: Path
) -> None:
    inferred = cli("export", "flags", str(tmp_path / "flags.csv"))  # format from the extension
    assert inferred.code == 0 and (tmp_path / "flags.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    contradicting = cli("export", "flags", str(tmp_path / "f.xlsx"), "--format", "csv")
    assert contradicting.code == 2 and "--format csv" in contradicting.err
    nowhere = cli("export", "flags", str(tmp_path / "missing" / "f.xlsx"))
    assert nowhere.code == 2 and "missing" in nowhere.err
    unnamed = cli("export", "flags", str(tmp_path / "flags"))
    assert unnamed.code == 2
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("f")) == ["flags.csv"]


def test_an_xlsx_that_is_not_a_workbook_is_a_clear_input_error(cli: Cli, tmp_path: Path) -> None:
    fake = tmp_path / "factories.xlsx"
    fake.write_text("统一社会信用代码,企业名称\n", encoding="utf-8")  # a CSV renamed
    result = cli("factories", "import", str(fake))
    assert result.code == 2 and "不是 Excel 工作簿" in result.err


def test_officials_read_a_source_by_its_display_name(swept: Engine) -> None:
    from monitor.alerts.context import evidence_lines
    from monitor.i18n import flag_summary

    terminated = one(swept, "art12.2-terminated", "华芯")
    assert terminated.evidence["source_name"] == "企查查（工商登记）"
    shown = dict(evidence_lines(terminated.evidence))
    assert shown["数据源"] == "企查查（工商登记）"
    assert "registry-qcc" not in str(shown)
    missing = next(f for (rule, _), f in flags(swept).items() if rule == "data-not-found")
    assert "企查查（工商登记）" in flag_summary(missing.summary_key, missing.summary_params)
