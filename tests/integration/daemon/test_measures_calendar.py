"""Article 14 over time, as the daemon's jobs see it on a frozen clock: the last day, the
first day of a gap before a successor, and `sfm status` saying which is which."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import Engine

from monitor.daemon import jobs
from monitor.daemon.status import status
from monitor.register.store import import_factories
from monitor.runtime import Runtime
from tests.conftest import REGISTRAR, Cli
from tests.integration.daemon.conftest import BUREAU, SmtpServer, daemon_config

GAP = """
[policy."2025"]
title = "北京市智能工厂认定管理办法（京经信发〔2025〕22号）"
effective_from = 2025-04-29
expires_on = 2026-12-31

[policy."2027"]
title = "北京市智能工厂认定管理办法（2027年修订）"
effective_from = 2027-02-01
"""


def beijing(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, 1, 0, tzinfo=UTC)  # 09:00 in Beijing


def test_the_first_day_of_a_gap_tells_the_bureau_once_and_status_says_so(
    engine: Engine,
    database_url: str,
    tmp_path: Path,
    smtp: SmtpServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = daemon_config(tmp_path, database_url, {"municipal": [smtp.url(BUREAU)]}, extra=GAP)
    cli = Cli(capsys, config)
    runtime = Runtime.load(str(config))
    with time_machine.travel(beijing(2026, 12, 31), tick=False):
        assert jobs.expiry_warning(runtime) == 0
        report = status(engine, runtime.config)
        assert (report["measures"]["days_left"], report["measures"]["expired"]) == (0, False)
        shown = cli("status")
        assert "今日到期" in shown.out and "0 天" not in shown.out
    with time_machine.travel(beijing(2027, 1, 15), tick=False):
        assert jobs.expiry_warning(runtime) is None
        assert jobs.expiry_warning(runtime) is None  # once
        report = status(engine, runtime.config)["measures"]
        assert (report["key"], report["expired"], report["days_left"]) == ("2025", True, None)
        assert report["successor_from"] == "2027-02-01"
        shown = cli("status")
        assert "已于 2026-12-31 到期" in shown.out and "2027-02-01 起施行" in shown.out
        assert "剩余 -" not in shown.out
        assert jobs.expired_note(runtime) is True
    with time_machine.travel(beijing(2027, 2, 1), tick=False):
        assert status(engine, runtime.config)["measures"]["expired"] is False
        assert jobs.expired_note(runtime) is False
    to_bureau = [mail for mail in smtp.mails if BUREAU in mail.rcpt_tos]
    subjects = [mail.subject for mail in to_bureau]
    assert sum("今日到期" in s for s in subjects) == 1
    lapsed = [m for m in to_bureau if "已于 2026-12-31 到期" in m.subject]
    assert len(lapsed) == 1
    body = lapsed[0].part("text/plain")
    assert "2027年修订" in body and "2027-02-01" in body and "请先确认现行有效的认定依据" in body
    assert "[policy" not in body


WINDOW = """统一社会信用代码,企业名称,级别,所在区,认定日期
911101081235534499,北京华芯微电子装备有限公司,基础级,海淀区,2026-12-14
91110108130154315G,中关村智能传感（北京）有限公司,基础级,海淀区,2026-12-20
"""


def test_a_filing_after_the_15th_is_in_the_next_quarters_report(
    engine: Engine, database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cli = Cli(capsys, daemon_config(tmp_path, database_url, {}))
    source = tmp_path / "window.csv"
    source.write_text(WINDOW, encoding="utf-8")
    with time_machine.travel(beijing(2027, 1, 10), tick=False):
        import_factories(engine, source, operator=REGISTRAR)

    def codes(quarter: str) -> list[str]:
        out = tmp_path / f"{quarter}.csv"
        result = cli("export", "filings", str(out), "--quarter", quarter)
        assert result.code == 0, result.err
        title, _headers, *rows = out.read_text(encoding="utf-8-sig").splitlines()
        assert title.startswith(f"{quarter[:4]}年第")
        return [row.split(",")[0] for row in rows]

    assert codes("2026Q4") == ["911101081235534499"]
    assert codes("2027Q1") == ["91110108130154315G"]
