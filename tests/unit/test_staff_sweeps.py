"""The staff sweeps' records (monitor/api/sweeps.py): how a sweep reads back, and how many
the registry keeps."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from monitor.api.sweeps import DONE, FAILED, RUNNING, StaffSweep, StaffSweeps
from monitor.daemon.jobs import SweepResult
from monitor.errors import Refused
from monitor.i18n import Message
from monitor.sweep.observations import ConnectorTally
from monitor.sweep.run import SweepSummary


def record(state: str = RUNNING, **fields: Any) -> StaffSweep:
    return StaffSweep(
        "ab12", None, None, 0, datetime(2026, 12, 4, tzinfo=UTC), state=state, **fields
    )


def result(*, errors: int = 0, found: int = 3) -> SweepResult:
    tally = ConnectorTally(topic="credit")
    tally.errors, tally.found = errors, found
    summary = SweepSummary(run_id=7, factories=3, connectors={"credit-qcc": tally}, duration_s=1.26)
    return SweepResult(summary, [])


@pytest.fixture(autouse=True)
def chinese(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SFM_LANG", "zh")


def test_a_running_sweep_reads_its_progress_and_no_result() -> None:
    sweep = record()
    sweep.started(6, 2)
    sweep.advance("credit-qcc")
    shown = sweep.as_json()
    assert shown["state"] == RUNNING
    assert shown["progress"] == {"done": 1, "total": 6}
    assert shown["result"] is None and shown["shown"] is None and shown["error"] is None


def test_a_done_sweep_carries_the_table_sfm_check_prints() -> None:
    shown = record(DONE, result=result()).as_json()
    assert shown["result"]["run_id"] == 7 and shown["result"]["problems"] == []
    table = shown["shown"]
    assert table["title"] == "核查完成：3 家工厂，用时 1.3 秒"
    assert [c["justify"] for c in table["columns"]] == ["left", "left"] + ["right"] * 4
    assert table["rows"] == [["credit-qcc", "信用", "3", "0", "0", "0"]]
    assert shown["error"] is None


def test_an_incomplete_sweep_is_done_with_the_error_that_exits_5() -> None:
    shown = record(DONE, result=result(errors=3, found=0)).as_json()
    assert shown["state"] == DONE and shown["result"]["problems"]
    assert shown["error"]["code"] == "incomplete" and shown["error"]["exit"] == 5
    assert "数据源 credit-qcc 对所有企业均查询失败" in shown["error"]["message"]


def test_a_failed_sweep_says_why_with_its_exit_code() -> None:
    refused = record(FAILED, error=Refused(Message("sweep.busy"))).as_json()
    assert refused["error"]["code"] == "refused" and refused["error"]["exit"] == 3
    broken = record(FAILED, error=RuntimeError("boom")).as_json()
    assert broken["error"]["code"] == "unexpected" and broken["error"]["exit"] == 1
    assert "boom" in broken["error"]["message"]


def test_the_registry_keeps_the_last_ones_and_never_a_running_one() -> None:
    sweeps = StaffSweeps(SimpleNamespace(daemon=None), keep=2)  # type: ignore[arg-type]
    oldest = record(RUNNING)
    oldest.id = "running"
    sweeps._remember(oldest, threading.Thread())
    for number in range(4):
        done = record(DONE, result=result())
        done.id = f"done{number}"
        sweeps._remember(done, threading.Thread())
    assert [r.id for r in sweeps.recent()] == ["done3", "running"]
