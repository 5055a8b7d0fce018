"""The daemon's jobs called as the daemon calls them, on a frozen clock: the regulatory
calendar, the bureau's overview, and ops told when a source goes down and comes back."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import time_machine
from openpyxl import load_workbook
from sqlalchemy import Engine, select
from sqlmodel import col

from monitor.daemon import jobs
from monitor.decisions import decide, raise_for
from monitor.operators import Operator
from monitor.register.store import import_factories
from monitor.runtime import Runtime
from monitor.storage.audit_chain import verify
from monitor.storage.db import session_scope
from monitor.storage.models import Alert
from monitor.vocabulary import FlagState
from tests.conftest import REGISTRAR, Cli
from tests.integration.daemon.conftest import (
    BUREAU,
    SmtpServer,
    Webhook,
    daemon_config,
)

HAIDIAN = "hdjxj@bjhd.gov.cn"
CHAOYANG = "cyjxj@bjchy.gov.cn"
HAIDIAN_BASIC = ("911101081235534499", "91110108130154315G")
FILINGS = """统一社会信用代码,企业名称,级别,所在区,认定日期,注册地址
911101081235534499,北京华芯微电子装备有限公司,基础级,海淀区,2026-10-10,北京市海淀区丰豪东路9号
91110108130154315G,中关村智能传感（北京）有限公司,基础级,海淀区,2026-11-01,北京市海淀区丰秀中路3号院
911101085214771897,北京智联精密机械有限公司,先进级,海淀区,2026-10-20,北京市海淀区上地信息路28号
911101053329131990,北京朝晖食品科技有限公司,基础级,朝阳区,2026-10-12,北京市朝阳区双桥东路12号
91110108781986991D,北京北清智能制造技术有限公司,基础级,海淀区,2026-08-01,北京市海淀区屯佃路6号
"""
BUREAU_OPERATOR = Operator(user="li", name="李明", scope="municipal")


@pytest.fixture
def filed(engine: Engine, tmp_path: Path) -> Engine:
    source = tmp_path / "filings.csv"
    source.write_text(FILINGS, encoding="utf-8")
    import_factories(engine, source, operator=REGISTRAR)
    return engine


def runtime_for(config: Path) -> Runtime:
    return Runtime.load(str(config))


def _beijing(year: int, month: int, day: int, hour: int = 9) -> datetime:
    return datetime(year, month, day, hour - 8, 0, tzinfo=UTC)


def test_districts_are_reminded_before_the_15th_with_their_filings_attached(
    filed: Engine, database_url: str, tmp_path: Path, smtp: SmtpServer
) -> None:
    config = daemon_config(
        tmp_path,
        database_url,
        {
            "municipal": [smtp.url(BUREAU)],
            "110108": [smtp.url(HAIDIAN)],
            "110105": [smtp.url(CHAOYANG)],
        },
        extra=f'[daemon]\nreports = "{tmp_path / "reports"}"\n',
    )
    runtime = runtime_for(config)
    factory_flag = raise_for(
        filed,
        HAIDIAN_BASIC[0],
        "art12.1-false-information",
        operator=BUREAU_OPERATOR,
        reason="申报材料与实际不符",
        outbox=None,
    )
    other = raise_for(
        filed,
        HAIDIAN_BASIC[1],
        "art12.1-false-information",
        operator=BUREAU_OPERATOR,
        reason="待核实",
        outbox=None,
    )
    decide(filed, other.id or 0, FlagState.DISMISSED, operator=BUREAU_OPERATOR, reason="经核实无误")

    with time_machine.travel(_beijing(2026, 12, 4), tick=False):
        assert jobs.filing_reminders(runtime) == []  # 11 days before: not yet
    with time_machine.travel(_beijing(2026, 12, 5), tick=False):
        reminded = jobs.filing_reminders(runtime)
        assert reminded == ["110105", "110108"]  # the districts configured here
        assert jobs.filing_reminders(runtime) == []  # owed once
        jobs.dispatch(runtime)  # the job wrote them to the outbox; dispatch sends them
    [to_haidian] = [mail for mail in smtp.mails if HAIDIAN in mail.rcpt_tos]
    assert "2026年第四季度" in to_haidian.subject and "2026-12-15" in to_haidian.subject
    body = to_haidian.part("text/plain") or to_haidian.part("text/html")
    assert "第六条" in body and "15日前" in body
    assert "基础级智能工厂 3 家" in body  # basic level in 海淀, whenever filed
    assert "本次报送期间备案 2 家" in body
    assert "2026-09-15 至 2026-12-14 期间的备案" in body
    assert "--quarter 2026Q4" in body
    attachments = [p for p in to_haidian.message.walk() if p.get_filename()]
    assert [p.get_filename() for p in attachments] == ["filings-2026Q4-110108.xlsx"]
    report = tmp_path / "reports" / "filings-2026Q4-110108.xlsx"
    title, *rows = list(load_workbook(report).active.iter_rows(values_only=True))
    assert "2026年第四季度" in title[0] and "备案日期 2026-09-15 至 2026-12-14" in title[0]
    assert rows[0][:2] == ("统一社会信用代码", "企业名称")
    assert [row[0] for row in rows[1:]] == list(HAIDIAN_BASIC)
    assert f"#{factory_flag.id}" in rows[1][5]  # its open flag
    assert "已排除" in rows[2][6] and "经核实无误" in rows[2][6]  # the decision taken

    with time_machine.travel(_beijing(2026, 12, 13), tick=False):
        assert jobs.filing_reminders(runtime) == ["110105", "110108"]  # the 3-day reminder
        jobs.dispatch(runtime)
    assert len([m for m in smtp.mails if HAIDIAN in m.rcpt_tos]) == 2


def test_the_bureau_is_warned_as_the_measures_expire_and_ops_once_they_have(
    engine: Engine, database_url: str, tmp_path: Path, smtp: SmtpServer, webhook: Webhook
) -> None:
    config = daemon_config(
        tmp_path,
        database_url,
        {"municipal": [smtp.url(BUREAU)], "ops": [webhook.url("ops")]},
    )
    runtime = runtime_for(config)
    with time_machine.travel(_beijing(2026, 10, 31), tick=False):
        assert jobs.expiry_warning(runtime) is None  # 61 days left
    with time_machine.travel(_beijing(2026, 11, 25), tick=False):
        assert jobs.expiry_warning(runtime) == 36  # on this project's clock: due
        assert jobs.expiry_warning(runtime) is None  # once
        assert jobs.expired_note(runtime) is False
        jobs.dispatch(runtime)
    with time_machine.travel(_beijing(2026, 12, 2), tick=False):
        assert jobs.expiry_warning(runtime) == 29
        jobs.dispatch(runtime)
    with time_machine.travel(_beijing(2026, 12, 24), tick=False):
        assert jobs.expiry_warning(runtime) == 7
        jobs.dispatch(runtime)
    warnings = [mail for mail in smtp.mails if BUREAU in mail.rcpt_tos]
    assert [("36" in m.subject, "29" in m.subject, "7" in m.subject) for m in warnings] == [
        (True, False, False),
        (False, True, False),
        (False, False, True),
    ]
    assert "2026-12-31" in warnings[0].part("text/plain")
    with time_machine.travel(_beijing(2027, 1, 4), tick=False):
        assert jobs.expiry_warning(runtime) is None
        assert jobs.expired_note(runtime) is True
        assert jobs.expired_note(runtime) is False  # weekly
        jobs.dispatch(runtime)
    with time_machine.travel(_beijing(2027, 1, 11), tick=False):
        assert jobs.expired_note(runtime) is True
        jobs.dispatch(runtime)
    notes = [hook for hook in webhook.received if "到期" in hook.get("title", "")]
    assert len(notes) == 2


def test_the_bureau_gets_a_weekly_overview_of_every_open_flag(
    filed: Engine, database_url: str, tmp_path: Path, smtp: SmtpServer
) -> None:
    config = daemon_config(tmp_path, database_url, {"municipal": [smtp.url(BUREAU)]})
    runtime = runtime_for(config)
    for code in HAIDIAN_BASIC:
        raise_for(
            filed,
            code,
            "art12.1-false-information",
            operator=BUREAU_OPERATOR,
            reason="x",
            outbox=None,
        )
    with time_machine.travel(_beijing(2026, 11, 30), tick=False):
        assert jobs.overview(runtime) == 2
        assert jobs.overview(runtime) == 2
        jobs.dispatch(runtime)
    overviews = [m for m in smtp.mails if "周报" in m.subject]
    assert len(overviews) == 1 and "2026W49" in overviews[0].subject
    text = overviews[0].part("text/plain")
    assert "第十一条" in text and "海淀区" in text and "基础级" in text


def test_the_overview_carries_the_audit_chains_head_and_length_as_verify_reports_them(
    filed: Engine, database_url: str, tmp_path: Path, smtp: SmtpServer
) -> None:
    config = daemon_config(tmp_path, database_url, {"municipal": [smtp.url(BUREAU)]})
    runtime = runtime_for(config)
    flag = raise_for(
        filed, HAIDIAN_BASIC[0], "art12.1-false-information", operator=BUREAU_OPERATOR,
        reason="x", outbox=None,
    )  # fmt: skip
    before = verify(filed)
    assert before.intact and before.length > 0
    with time_machine.travel(_beijing(2026, 11, 30), tick=False):  # Monday, week 49
        assert jobs.overview(runtime) == 1
        jobs.dispatch(runtime)
    decide(
        filed, flag.id, FlagState.CONFIRMED, operator=BUREAU_OPERATOR, reason="现场核实",
        outbox=None,
    )  # fmt: skip
    after = verify(filed)
    assert after.intact and after.length > before.length and after.head != before.head
    with time_machine.travel(_beijing(2026, 12, 7), tick=False):  # Monday, week 50
        raise_for(
            filed, HAIDIAN_BASIC[1], "art12.1-false-information", operator=BUREAU_OPERATOR,
            reason="x", outbox=None,
        )  # fmt: skip
        latest = verify(filed)
        assert jobs.overview(runtime) == 1
        jobs.dispatch(runtime)
    texts = [m.part("text/plain") for m in smtp.mails if "周报" in m.subject]
    assert len(texts) == 2
    first, second = texts
    assert f"共 {before.length} 条" in first and before.head in first
    assert latest.head != before.head and latest.length > after.length
    assert f"共 {latest.length} 条" in second and latest.head in second
    assert before.head not in second


def test_ops_is_told_once_when_a_source_is_down_and_once_when_it_is_back(
    filed: Engine, database_url: str, tmp_path: Path, webhook: Webhook
) -> None:
    broken = daemon_config(
        tmp_path,
        database_url,
        {"ops": [webhook.url("ops")]},
        extra="",
    )
    text = broken.read_text(encoding="utf-8")
    # the registry answers only errors: a closed port, two failed sweeps make it "down"
    broken.write_text(
        text.replace(
            'kind = "simulator"\ntopic = "registration"\n'
            'url = "{simulator}/qcc/ECIV4/GetBasicDetailsByName?keyword={credit_code}"',
            'kind = "http"\ntopic = "registration"\n'
            'url = "http://127.0.0.1:9/qcc?keyword={credit_code}"\ndown_after_runs = 2\n'
            "timeout_s = 2",
        ).replace("retries = 3", "retries = 0"),
        encoding="utf-8",
    )
    assert "127.0.0.1:9/" in broken.read_text(encoding="utf-8")
    runtime = runtime_for(broken)

    def told() -> list[str]:
        jobs.dispatch(runtime)  # a sweep writes ops's note to the outbox; dispatch sends it
        return [hook["title"] for hook in webhook.received if hook["title"].startswith("数据源")]

    jobs.sweep(runtime, topic="registration")
    assert told() == []  # one failed sweep is not yet "down"
    jobs.sweep(runtime, topic="registration")
    assert len(told()) == 1 and "不可用" in told()[0]
    jobs.sweep(runtime, topic="registration")
    assert len(told()) == 1  # once
    with session_scope(filed) as session:
        flags_from_errors = session.scalars(
            select(col(Alert.id)).where(col(Alert.kind) == "flag")
        ).all()
        assert flags_from_errors == []  # an error is never evidence of anything

    healthy = tmp_path / "healthy.toml"
    healthy.write_text(text, encoding="utf-8")
    jobs.sweep(runtime_for(healthy), topic="registration")
    assert len(told()) == 2 and "已恢复" in told()[1]
    jobs.sweep(runtime_for(healthy), topic="registration")
    assert len(told()) == 2


def test_export_filings_writes_the_same_report_from_the_cli(
    filed: Engine, database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = daemon_config(tmp_path, database_url, {})
    cli = Cli(capsys, config)
    out = tmp_path / "q4.csv"
    result = cli("export", "filings", str(out), "--quarter", "2026Q4", "--format", "csv")
    assert result.code == 0, result.err
    title, *lines = out.read_text(encoding="utf-8-sig").splitlines()
    assert title.startswith("2026年第四季度基础级智能工厂备案结果（备案日期 2026-09-15 至")
    assert lines[0].startswith("统一社会信用代码,企业名称,所在区")
    assert len(lines) == 4  # 海淀 ×2 and 朝阳, not the advanced one nor the Q3 filing
    only_haidian = tmp_path / "hd.xlsx"
    assert (
        cli(
            "export", "filings", str(only_haidian), "--quarter", "2026q4", "--district", "海淀"
        ).code
        == 0
    )
    assert load_workbook(only_haidian).active.max_row == 4  # title, headers, 2 filings
    bad = cli("export", "filings", str(tmp_path / "x.csv"), "--quarter", "2026Q5")
    assert bad.code == 2 and "--quarter" in bad.err and not (tmp_path / "x.csv").exists()
    assert (
        cli(
            "export",
            "filings",
            str(tmp_path / "y.csv"),
            "--quarter",
            "2026Q4",
            "--district",
            "Gotham",
        ).code
        == 2
    )


def test_an_overview_is_sent_on_its_weekday_and_never_empty(
    filed: Engine, database_url: str, tmp_path: Path, smtp: SmtpServer
) -> None:
    config = daemon_config(tmp_path, database_url, {"municipal": [smtp.url(BUREAU)]})
    runtime = runtime_for(config)
    with time_machine.travel(_beijing(2026, 11, 30), tick=False):  # a Monday, nothing open
        assert jobs.overview(runtime) == 0
    raise_for(
        filed, HAIDIAN_BASIC[0], "art12.1-false-information", operator=BUREAU_OPERATOR,
        reason="x", outbox=None,
    )  # fmt: skip
    with time_machine.travel(_beijing(2026, 12, 2), tick=False):  # a Wednesday: first start
        assert jobs.overview(runtime) == 1
    jobs.dispatch(runtime)
    with session_scope(filed) as session:
        assert (
            session.scalars(select(col(Alert.id)).where(col(Alert.kind) == "overview")).all() == []
        )
    assert not [m for m in smtp.mails if "周报" in m.subject]
