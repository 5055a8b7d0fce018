"""Importing the register, on SQLite and PostgreSQL: all or nothing, idempotent, audited."""

from datetime import date
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from monitor.decisions import rename_factory, revoke_factory
from monitor.errors import BadInput, NotFound, Refused
from monitor.operators import Operator
from monitor.register.store import factory_history, import_factories, list_factories
from monitor.storage.models import Designation, DesignationEvent, Factory
from tests.conftest import DEMO_FACTORIES, REGISTRAR

BUREAU = Operator("li", "李", "municipal")

HEADER_ZH = "统一社会信用代码,企业名称,级别,所在区,认定日期,注册地址\n"
HEADER_EN = "credit_code,name,level,district,designated_on,registered_address\n"
GOOD_ROW = (
    "91110000600037341L,北京测试机床有限公司,基础级,海淀区,2025-06-30,北京市海淀区上地十街1号\n"
)
OTHER_ROW = "91110000101623741K,北京示例装备股份有限公司,先进级,Chaoyang,2025/7/1,\n"


def counts(engine: Engine) -> tuple[int, int]:
    with Session(engine) as session:
        factories = session.exec(select(func.count()).select_from(Factory)).one()
        events = session.exec(select(func.count()).select_from(DesignationEvent)).one()
    return factories, events


def write(tmp_path: Path, text: str, name: str = "in.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def test_demo_register_imports_and_reimport_changes_nothing(engine: Engine, tmp_path: Path) -> None:
    first = import_factories(engine, DEMO_FACTORIES, operator=REGISTRAR)
    assert len(first.added) >= 30 and not first.updated
    before = counts(engine)
    again = import_factories(engine, DEMO_FACTORIES, operator=REGISTRAR)
    assert not again.changed and again.unchanged == len(first.added)
    assert counts(engine) == before


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_csv_encodings_excel_users_produce(engine: Engine, tmp_path: Path, encoding: str) -> None:
    path = write(tmp_path, HEADER_ZH + GOOD_ROW + OTHER_ROW, encoding=encoding)
    report = import_factories(engine, path, operator=REGISTRAR)
    assert report.added == ["91110000600037341L", "91110000101623741K"]
    factories = {f.credit_code: f for f in list_factories(engine)}
    assert factories["91110000600037341L"].name == "北京测试机床有限公司"
    assert factories["91110000101623741K"].district_code == "110105"
    assert factories["91110000101623741K"].designated_on == date(2025, 7, 1)
    assert factories["91110000101623741K"].level == "advanced"


def test_a_big5_register_reads_as_big5_and_undecidable_bytes_are_refused_naming_none(
    engine: Engine, tmp_path: Path
) -> None:
    """GB18030 decodes Big5 bytes into mojibake without an error: detection decides."""
    traditional = "統一社會信用代碼,企業名稱,級別,所在區,認定日期\n"
    row = "91110000600037341L,北京測試機床有限公司,基礎級,東城區,2025-06-30\n"
    path = tmp_path / "big5.csv"
    path.write_bytes((traditional + row).encode("big5"))
    from connectors.tables import read_table

    header, body = read_table(path)
    assert header[1] == "企業名稱" and next(body)[1][1] == "北京測試機床有限公司"
    noise = tmp_path / "noise.csv"
    noise.write_bytes(bytes(range(128, 256)) * 40)
    with pytest.raises(BadInput, match="编码"):
        import_factories(engine, noise, operator=REGISTRAR)
    assert list_factories(engine) == []


def test_english_headers_and_chinese_dates(engine: Engine, tmp_path: Path) -> None:
    row = "91110000600037341l , 北京测试机床有限公司,basic,110103,2025年6月30日,\n"
    import_factories(engine, write(tmp_path, HEADER_EN + row), operator=REGISTRAR)
    [factory] = list_factories(engine)
    assert factory.credit_code == "91110000600037341L"
    assert factory.district_code == "110101"  # retired 崇文 code maps to 东城
    assert factory.designated_on == date(2025, 6, 30)


def test_xlsx_with_date_cells_and_extra_columns(engine: Engine, tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["序号", "统一社会信用代码", "企业名称", "级别", "所在区", "认定日期"])
    sheet.append(
        [1, "91110000600037341L", "北京测试机床有限公司", "先进级", "顺义", date(2025, 6, 30)]
    )
    sheet.append([None, None, None, None, None, None])  # blank rows are common in Excel
    path = tmp_path / "factories.xlsx"
    book.save(path)
    import_factories(engine, path, operator=REGISTRAR)
    [factory] = list_factories(engine)
    assert (factory.district_code, factory.designated_on) == ("110113", date(2025, 6, 30))


def test_changed_row_updates_the_factory_and_records_what_changed(
    engine: Engine, tmp_path: Path
) -> None:
    import_factories(engine, write(tmp_path, HEADER_ZH + GOOD_ROW), operator=REGISTRAR)
    changed = GOOD_ROW.replace("2025-06-30", "2025-07-01").replace("上地十街1号", "上地十街2号")
    report = import_factories(engine, write(tmp_path, HEADER_ZH + changed), operator=REGISTRAR)
    assert report.updated == {
        "91110000600037341L": {
            "designated_on": [date(2025, 6, 30), date(2025, 7, 1)],
            "registered_address": ["北京市海淀区上地十街1号", "北京市海淀区上地十街2号"],
        }
    }
    factory, events = factory_history(engine, "91110000600037341L")
    assert factory.designated_on == date(2025, 7, 1)
    assert [e.kind for e in events] == ["designated", "updated"]
    assert events[1].details["changes"]["designated_on"] == ["2025-06-30", "2025-07-01"]


def test_an_enterprise_designated_basic_then_advanced_holds_both_designations(
    engine: Engine, tmp_path: Path
) -> None:
    import_factories(engine, write(tmp_path, HEADER_ZH + GOOD_ROW), operator=REGISTRAR)
    advanced = GOOD_ROW.replace("基础级", "先进级").replace("2025-06-30", "2026-03-01")
    report = import_factories(engine, write(tmp_path, HEADER_ZH + advanced), operator=REGISTRAR)
    assert report.updated["91110000600037341L"]["designation"] == [
        None,
        "advanced 北京测试机床有限公司",
    ]
    factory, events = factory_history(engine, "91110000600037341L")
    with Session(engine) as session:
        held = sorted(
            (d.level, str(d.designated_on), d.status)
            for d in session.exec(select(Designation).where(Designation.factory_id == factory.id))
        )
    assert held == [("advanced", "2026-03-01", "active"), ("basic", "2025-06-30", "active")]
    # the enterprise: its highest level, designated since its first designation
    assert (factory.level, factory.designated_on) == ("advanced", date(2025, 6, 30))
    assert [e.kind for e in events] == ["designated", "designated"]
    # the same two rows again change nothing; two factories of one enterprise in one file
    again = import_factories(
        engine, write(tmp_path, HEADER_ZH + GOOD_ROW + advanced), operator=REGISTRAR
    )
    assert (again.added, again.updated, again.unchanged) == ([], {}, 2)


def test_several_factories_of_one_enterprise_are_one_enterprise_with_several_designations(
    engine: Engine, tmp_path: Path
) -> None:
    header = HEADER_ZH.rstrip("\n") + ",工厂名称,文号\n"
    rows = (
        GOOD_ROW.rstrip("\n")
        + ",上地工厂,海经信备〔2025〕3号\n"
        + GOOD_ROW.rstrip("\n").replace("海淀区,", "大兴区,")
        + ",亦庄工厂,兴经信备〔2025〕8号\n"
    )
    report = import_factories(engine, write(tmp_path, header + rows), operator=REGISTRAR)
    assert report.added == ["91110000600037341L"]
    with Session(engine) as session:
        held = sorted(
            (d.name, d.district_code, d.reference) for d in session.exec(select(Designation))
        )
        assert session.exec(select(func.count()).select_from(Factory)).one() == 1
    assert held == [
        ("上地工厂", "110108", "海经信备〔2025〕3号"),
        ("亦庄工厂", "110115", "兴经信备〔2025〕8号"),
    ]


def test_dry_run_writes_nothing(engine: Engine, tmp_path: Path) -> None:
    report = import_factories(
        engine, write(tmp_path, HEADER_ZH + GOOD_ROW), operator=REGISTRAR, dry_run=True
    )
    assert report.added == ["91110000600037341L"]
    assert counts(engine) == (0, 0)


BROKEN = {
    "bad check character": (
        HEADER_ZH + GOOD_ROW.replace("341L", "341K"),
        ["第 2 行", "统一社会信用代码", "(A)", "应为“L”"],
    ),
    "unknown district": (
        HEADER_ZH + GOOD_ROW + OTHER_ROW.replace("Chaoyang", "浦东新区"),
        ["第 3 行", "所在区", "(D)", "浦东新区"],
    ),
    "duplicate code": (
        HEADER_ZH + GOOD_ROW + OTHER_ROW + GOOD_ROW.replace("机床", "机械"),
        ["第 4 行", "91110000600037341L", "第 2 行"],
    ),
    "missing column": (
        "统一社会信用代码,企业名称,所在区,认定日期\n91110000600037341L,北京测试,海淀,2025-06-30\n",
        ["级别", "level"],
    ),
    "bad level": (HEADER_ZH + GOOD_ROW.replace("基础级", "国家级"), ["(C)", "国家级"]),
    "bad date": (HEADER_ZH + GOOD_ROW.replace("2025-06-30", "30.06.2025"), ["(E)", "30.06.2025"]),
    "future date": (HEADER_ZH + GOOD_ROW.replace("2025-06-30", "2099-01-01"), ["2099-01-01"]),
    "missing value": (
        HEADER_ZH + GOOD_ROW.replace("北京测试机床有限公司", ""),
        ["企业名称", "(B)"],
    ),
    "no rows": (HEADER_ZH, ["没有数据行"]),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_a_broken_file_is_rejected_whole_and_changes_nothing(
    engine: Engine, tmp_path: Path, case: str
) -> None:
    import_factories(engine, DEMO_FACTORIES, operator=REGISTRAR)
    before = counts(engine)
    text, expected = BROKEN[case]
    # the good rows of a broken file must not be written either
    path = write(tmp_path, text, name="broken.csv")
    with pytest.raises(BadInput) as caught:
        import_factories(engine, path, operator=REGISTRAR)
    report = "\n".join([str(caught.value), *caught.value.details])
    assert "broken.csv" in report
    for fragment in expected:
        assert fragment in report, (fragment, report)
    assert counts(engine) == before


def test_every_error_of_a_file_is_reported_at_once(engine: Engine, tmp_path: Path) -> None:
    text = HEADER_ZH + GOOD_ROW.replace("341L", "341K") + OTHER_ROW.replace("Chaoyang", "Gotham")
    with pytest.raises(BadInput) as caught:
        import_factories(engine, write(tmp_path, text), operator=REGISTRAR)
    assert len(caught.value.details) == 2


def test_unsupported_and_undecodable_files(engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(BadInput, match=r"\.txt"):
        import_factories(engine, write(tmp_path, "x", name="a.txt"), operator=REGISTRAR)
    undecodable = tmp_path / "bad.csv"
    undecodable.write_bytes(b"\xff\xfe\x00\x81\x30\x81\xff" * 3)
    with pytest.raises(BadInput):
        import_factories(engine, undecodable, operator=REGISTRAR)
    assert counts(engine) == (0, 0)


def test_english_error_messages(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SFM_LANG", "en")
    with pytest.raises(BadInput) as caught:
        import_factories(
            engine,
            write(tmp_path, HEADER_EN + GOOD_ROW.replace("341L", "341K")),
            operator=REGISTRAR,
        )
    assert "in.csv, row 2, column 'credit_code' (A): bad check character" in caught.value.details[0]


def test_rename_records_the_approval(engine: Engine, tmp_path: Path) -> None:
    import_factories(engine, write(tmp_path, HEADER_ZH + GOOD_ROW), operator=REGISTRAR)
    factory, former = rename_factory(
        engine,
        "91110000600037341L",
        new_name="北京新名机床有限公司",
        approved_on=date(2026, 3, 1),
        reference="京经信函〔2026〕1号",
        operator=BUREAU,
        outbox=None,
    )
    assert (former, factory.name) == ("北京测试机床有限公司", "北京新名机床有限公司")
    _, events = factory_history(engine, "91110000600037341L")
    assert events[-1].kind == "renamed"
    assert events[-1].details == {"from": "北京测试机床有限公司", "to": "北京新名机床有限公司"}
    assert (events[-1].actor, events[-1].reference) == ("li", "京经信函〔2026〕1号")
    with pytest.raises(BadInput):  # same name again
        rename_factory(
            engine,
            "91110000600037341L",
            new_name="北京新名机床有限公司",
            approved_on=date(2026, 3, 2),
            reference=None,
            operator=BUREAU,
            outbox=None,
        )


def test_revoke_then_rename_or_revoke_again_is_refused(engine: Engine, tmp_path: Path) -> None:
    import_factories(engine, write(tmp_path, HEADER_ZH + GOOD_ROW), operator=REGISTRAR)
    revoke_factory(
        engine,
        "91110000600037341L",
        decided_on=date(2026, 5, 1),
        reference="京经信发〔2026〕9号",
        reason="12(3) 重大安全事故",
        operator=BUREAU,
        outbox=None,
    )
    [factory] = list_factories(engine)
    assert (factory.status, factory.revoked_on) == ("revoked", date(2026, 5, 1))
    with pytest.raises(Refused):
        revoke_factory(
            engine,
            "91110000600037341L",
            decided_on=date(2026, 5, 2),
            reference="x",
            reason="y",
            operator=BUREAU,
            outbox=None,
        )
    with pytest.raises(Refused):
        rename_factory(
            engine,
            "91110000600037341L",
            new_name="新名",
            approved_on=date(2026, 5, 2),
            reference=None,
            operator=BUREAU,
            outbox=None,
        )
    # re-importing the original list does not silently undo the revocation
    import_factories(engine, write(tmp_path, HEADER_ZH + GOOD_ROW), operator=REGISTRAR)
    assert list_factories(engine)[0].status == "revoked"


def test_revoke_validates_its_inputs(engine: Engine, tmp_path: Path) -> None:
    import_factories(engine, write(tmp_path, HEADER_ZH + GOOD_ROW), operator=REGISTRAR)
    with pytest.raises(BadInput):
        revoke_factory(
            engine,
            "91110000600037341L",
            decided_on=date(2026, 5, 1),
            reference=" ",
            reason="r",
            operator=BUREAU,
            outbox=None,
        )
    with pytest.raises(BadInput):  # before the designation
        revoke_factory(
            engine,
            "91110000600037341L",
            decided_on=date(2024, 1, 1),
            reference="x",
            reason="r",
            operator=BUREAU,
            outbox=None,
        )
    with pytest.raises(NotFound):
        revoke_factory(
            engine,
            "91110000101623741K",
            decided_on=date(2026, 5, 1),
            reference="x",
            reason="r",
            operator=BUREAU,
            outbox=None,
        )
    assert counts(engine) == (1, 1)


def test_filters(engine: Engine) -> None:
    import_factories(engine, DEMO_FACTORIES, operator=REGISTRAR)
    haidian = list_factories(engine, district="Haidian")
    assert haidian and {f.district_code for f in haidian} == {"110108"}
    advanced = list_factories(engine, level="先进级")
    assert advanced and {f.level for f in advanced} == {"advanced"}
    with pytest.raises(BadInput):
        list_factories(engine, district="Gotham")


HAIDIAN_ONLY = Operator("wang", "王芳", ("110108",))


def test_a_district_operator_imports_rows_of_their_own_districts_only(
    engine: Engine, tmp_path: Path
) -> None:
    haidian_row = GOOD_ROW  # 海淀
    chaoyang_row = OTHER_ROW  # Chaoyang
    with pytest.raises(Refused, match="第 3 行"):
        import_factories(
            engine, write(tmp_path, HEADER_ZH + haidian_row + chaoyang_row), operator=HAIDIAN_ONLY
        )
    assert counts(engine) == (0, 0)  # nothing written
    report = import_factories(
        engine, write(tmp_path, HEADER_ZH + haidian_row), operator=HAIDIAN_ONLY
    )
    assert report.added == ["91110000600037341L"]
    moved = HEADER_ZH + haidian_row.replace("海淀区,", "朝阳区,")  # out of their scope
    with pytest.raises(Refused):
        import_factories(engine, write(tmp_path, moved), operator=HAIDIAN_ONLY)


def test_re_importing_never_undoes_a_recorded_rename_or_revocation(
    engine: Engine, tmp_path: Path
) -> None:
    original = write(tmp_path, HEADER_ZH + GOOD_ROW)
    import_factories(engine, original, operator=REGISTRAR)
    rename_factory(
        engine,
        "91110000600037341L",
        new_name="北京新名称智能科技有限公司",
        approved_on=date(2026, 3, 1),
        reference="京经信函〔2026〕5号",
        operator=BUREAU,
        outbox=None,
    )
    with pytest.raises(Refused, match="京经信函〔2026〕5号") as refused:
        import_factories(engine, original, operator=REGISTRAR)
    assert "第 2 行" in str(refused.value)
    factory, events = factory_history(engine, "91110000600037341L")
    assert factory.name == "北京新名称智能科技有限公司"
    assert [e.kind for e in events] == ["designated", "renamed"]

    revoke_factory(
        engine,
        "91110000600037341L",
        decided_on=date(2026, 4, 1),
        reference="京经信发〔2026〕9号",
        reason="注销",
        operator=BUREAU,
        outbox=None,
    )
    renamed_row = GOOD_ROW.replace("北京测试机床有限公司", "北京新名称智能科技有限公司")
    changed = renamed_row.replace("基础级", "先进级")
    with pytest.raises(Refused, match="京经信发〔2026〕9号"):
        import_factories(engine, write(tmp_path, HEADER_ZH + changed), operator=REGISTRAR)
    # the same row, unchanged, is no contradiction
    import_factories(engine, write(tmp_path, HEADER_ZH + renamed_row), operator=REGISTRAR)


def test_a_register_larger_than_sqlites_variable_limit_imports_and_reimports(
    engine: Engine, tmp_path: Path
) -> None:
    """40,000 rows: more credit codes than one SQLite statement may bind (32,766)."""
    from sqlalchemy import text

    from tests.conftest import many_factories

    path = many_factories(tmp_path / "big.csv", 40_000)
    first = import_factories(engine, path, operator=REGISTRAR)
    assert len(first.added) == 40_000
    with engine.connect() as connection:
        for table in ("factory", "designation", "designation_event"):
            assert connection.execute(text(f"SELECT count(*) FROM {table}")).scalar() == 40_000
    again = import_factories(engine, path, operator=REGISTRAR)
    assert again.unchanged == 40_000 and not again.added
    assert (
        sum(1 for _ in __import__("monitor.register.store").register.store.iter_factories(engine))
        == 40_000
    )


def test_the_register_may_give_the_designated_entity_type_as_the_baseline(
    engine: Engine, tmp_path: Path
) -> None:
    source = tmp_path / "typed.csv"
    source.write_text(
        "统一社会信用代码,企业名称,级别,所在区,认定日期,企业类型\n"
        "911101085214771897,北京智联精密机械有限公司,先进级,海淀区,2025-06-30,"
        "有限责任公司（自然人投资或控股）\n"
        "911101081235534499,北京华芯微电子装备有限公司,基础级,海淀区,2025-06-30,\n",
        encoding="utf-8",
    )
    import_factories(engine, source, operator=REGISTRAR)
    with Session(engine) as session:
        baselines = {
            f.credit_code: f.baseline_entity_type for f in session.exec(select(Factory)).all()
        }
    assert baselines == {
        "911101085214771897": "有限责任公司（自然人投资或控股）",
        "911101081235534499": None,  # left to the first sweep after designation
    }
