"""The measures over time through real sweeps, on a frozen clock and both databases: a
successor arriving with open flags, an event its source stops listing, listings lifted each
way, a state that ends, and a gap between measures (DESIGN §4)."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from typing import Any

import pytest
import time_machine
from sqlalchemy import Engine, func, select
from sqlmodel import Session, col

from connectors.simulator import RunningSimulator
from monitor.config import LoadedConfig, Settings
from monitor.register.store import import_factories
from monitor.reports import flag_detail
from monitor.rules.policy import DEFAULT_POLICIES, Policy, measures_in_force
from monitor.storage.models import Alert, FlagAudit
from monitor.sweep.run import run_sweep
from tests.conftest import DEMO_FACTORIES, REGISTRAR
from tests.integration.test_flags import SHIPPED, code_of, one, shipped_connector

SUCCESSOR = Policy.model_validate(
    {
        "title": "北京市智能工厂认定管理办法（2027）",
        "effective_from": "2027-01-01",
        "expires_on": "2029-12-31",
        "production_safety": {"major": {"deaths": 15}},
    }
)
POLICIES = {"2025": DEFAULT_POLICIES["2025"], "2027": SUCCESSOR}


def beijing(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour - 8, tzinfo=UTC)


def sweep_on(
    engine: Engine, simulator: RunningSimulator, day: date, policies: dict[str, Policy] = POLICIES
) -> dict[str, Any]:
    connectors = [shipped_connector(name, simulator.base_url) for name in SHIPPED]
    config = LoadedConfig(settings=Settings(connectors=connectors, policy=policies), path=None)
    with time_machine.travel(beijing(day), tick=False):
        summary = asyncio.run(run_sweep(engine, config))
    assert summary.evaluation is not None
    return summary.evaluation.as_json()


def counts(engine: Engine) -> tuple[int, int]:
    with Session(engine) as session:
        audits = session.scalar(select(func.count()).select_from(FlagAudit)) or 0
        closings = (
            session.scalar(
                select(func.count()).select_from(Alert).where(col(Alert.kind) == "closing")
            )
            or 0
        )
    return audits, closings


def last_reason(engine: Engine, flag_id: int | None) -> str:
    with Session(engine) as session:
        return str(
            session.scalars(
                select(col(FlagAudit.reason))
                .where(col(FlagAudit.flag_id) == flag_id)
                .order_by(col(FlagAudit.id).desc())
            ).first()
        )


@pytest.fixture
def before_successor(engine: Engine, simulator: RunningSimulator) -> Engine:
    import_factories(engine, DEMO_FACTORIES, operator=REGISTRAR)
    sweep_on(engine, simulator, date(2026, 12, 20))
    return engine


def test_a_successor_arriving_changes_no_open_flag_of_either_kind(
    before_successor: Engine, simulator: RunningSimulator
) -> None:
    accident = one(before_successor, "art12.3-major-accident", "南苑")  # 10 deaths, 2026-09-14
    terminated = one(before_successor, "art12.2-terminated", "华芯")
    before = counts(before_successor)
    tally = sweep_on(before_successor, simulator, date(2027, 1, 2))
    assert (tally["flags_opened"], tally["flags_cleared"], tally["flags_recurred"]) == (0, 0, 0)
    assert tally["measures"] == "2027"
    assert counts(before_successor) == before  # no transition, no closing notice
    for flag in (accident, terminated):
        again = one(before_successor, flag.rule_id, "南苑" if flag is accident else "华芯")
        assert (again.id, again.state) == (flag.id, "open")
    # the official sees what judged it, and how today's measures would grade it
    detail = flag_detail(
        before_successor, accident.id or 0, measures_in_force(POLICIES, date(2027, 1, 2))
    )
    assert detail["evidence"]["measures"] == DEFAULT_POLICIES["2025"].title
    assert "较大" in detail["evidence"]["graded_today"]
    assert SUCCESSOR.title in detail["evidence"]["graded_today"]


def test_an_accident_the_source_stops_listing_keeps_its_flag(
    before_successor: Engine, simulator: RunningSimulator, upstream: dict[str, Any]
) -> None:
    flag = one(before_successor, "art12.3-major-accident", "南苑")
    entry = upstream["factories"][code_of(upstream, "南苑")]
    kept, entry["safety"] = entry["safety"], []
    before = counts(before_successor)
    assert sweep_on(before_successor, simulator, date(2026, 12, 22))["flags_cleared"] == 0
    after = one(before_successor, "art12.3-major-accident", "南苑")
    assert (after.state, after.unlisted_since) == ("open", date(2026, 12, 22))
    assert counts(before_successor) == before
    detail = flag_detail(before_successor, flag.id or 0)
    assert "2026-12-22" in detail["evidence"]["unlisted_since"]
    # a later sweep keeps the first day it was missed; listed again, the note goes
    sweep_on(before_successor, simulator, date(2026, 12, 23))
    assert one(before_successor, flag.rule_id, "南苑").unlisted_since == date(2026, 12, 22)
    entry["safety"] = kept
    sweep_on(before_successor, simulator, date(2026, 12, 24))
    assert one(before_successor, flag.rule_id, "南苑").unlisted_since is None


LISTINGS = {
    "serious_violation": ("门头沟", "art12.5-penalty"),
    "abnormal_operation": ("良乡", "art12.2-not-operating"),
    "dishonest_debtor": ("门头沟", "art12.5-penalty"),
}


@pytest.mark.parametrize("kind", list(LISTINGS))
@pytest.mark.parametrize("how", ["removal_date", "gone"])
def test_a_lifted_listing_clears_its_flag_saying_how(
    engine: Engine, simulator: RunningSimulator, upstream: dict[str, Any], kind: str, how: str
) -> None:
    fragment, rule = LISTINGS[kind]
    entry = upstream["factories"][code_of(upstream, fragment)]
    if kind == "dishonest_debtor":
        entry["credit"] = [
            {
                "id": "SXBZX-2026-1",
                "type": "失信被执行人",
                "decided_on": "2026-08-01",
                "authority": "北京市门头沟区人民法院",
                "document_no": "（2026）京0109执1号",
                "reason": "有履行能力而拒不履行",
            }
        ]
    import_factories(engine, DEMO_FACTORIES, operator=REGISTRAR)
    sweep_on(engine, simulator, date(2026, 12, 20))
    flag = one(engine, rule, fragment)
    if how == "removal_date":
        entry["credit"][0]["removed_on"] = "2026-12-21"
    else:
        entry["credit"] = []
    assert sweep_on(engine, simulator, date(2026, 12, 22))["flags_cleared"] == 1
    assert one(engine, rule, fragment).state == "cleared"
    reason = last_reason(engine, flag.id)
    if how == "removal_date":
        assert reason == "数据源显示该企业已于 2026-12-21 移出该名单"
    else:
        assert reason.startswith("数据源已不再将该企业列入该名单")


def test_a_state_clears_saying_what_the_data_now_shows(
    before_successor: Engine, simulator: RunningSimulator, upstream: dict[str, Any]
) -> None:
    flag = one(before_successor, "art12.2-terminated", "华芯")
    upstream["factories"][code_of(upstream, "华芯")]["registration"]["status"] = "存续"
    assert sweep_on(before_successor, simulator, date(2026, 12, 22))["flags_cleared"] == 1
    assert last_reason(before_successor, flag.id) == "数据源显示该企业登记状态已变为“存续”"


def test_a_gap_between_measures_is_judged_by_the_expired_ones_and_flagged_as_such(
    before_successor: Engine, simulator: RunningSimulator
) -> None:
    late = {**POLICIES, "2027": SUCCESSOR.model_copy(update={"effective_from": date(2027, 2, 1)})}
    tally = sweep_on(before_successor, simulator, date(2027, 1, 15), late)
    assert (tally["measures"], tally["measures_expired"]) == ("2025", True)
    assert (tally["flags_opened"], tally["flags_cleared"]) == (0, 0)


SUCCESSOR_CONFIG = """
[policy."2025"]
title = "北京市智能工厂认定管理办法（京经信发〔2025〕22号）"
effective_from = 2025-04-29
expires_on = 2026-12-31

[policy."2025".environmental.major]
deaths = 10

[policy."2027"]
title = "北京市智能工厂认定管理办法（2027）"
effective_from = 2027-01-01
text = "measures-2027.md"
clause_numbers = {{ {numbers} }}

[policy."2027".production_safety.major]
deaths = 15
"""


def test_config_check_shows_what_each_block_means_before_it_takes_effect(
    cli: Any, tmp_path: Any
) -> None:
    from monitor.clauses import packaged_text

    text = packaged_text()
    for old, new in [("十五", "十六"), ("十四", "十五"), ("十三", "十四"), ("十二", "十三")]:
        text = text.replace(f"第{old}条", f"第{new}条")
    (tmp_path / "measures-2027.md").write_text(text, encoding="utf-8")
    items = ["", *(f"({n})" for n in range(1, 6))]
    numbers = ", ".join(f'"12{item}" = "13{item}"' for item in items)
    config = tmp_path / "successor.toml"
    config.write_text(SUCCESSOR_CONFIG.format(numbers=numbers), encoding="utf-8")
    result = cli("--config", str(config), "config", "check", "--json")
    assert result.code == 0, result.err
    import json

    first, successor = json.loads(result.out)["measures"]
    assert first["grading"]["environmental"]["major"] == {
        "deaths": 10,
        "serious_injuries": 50,
        "evacuated": 10_000,
        "direct_loss_cny": 20_000_000,
    }
    assert first["grading"]["environmental"]["especially_major"]["evacuated"] == 50_000
    assert successor["grading"]["production_safety"]["major"]["deaths"] == 15
    assert successor["grading"]["production_safety"]["major"]["serious_injuries"] == 50
    assert successor["clauses"]["12(3)"] == "第十三条第（三）项"
    shown = cli("--config", str(config), "config", "check")
    assert "北京市智能工厂认定管理办法（2027）" in shown.out and "≥ 15" in shown.out
    # a text that lacks a clause is refused at load, naming the block
    config.write_text(SUCCESSOR_CONFIG.format(numbers=""), encoding="utf-8")
    refused = cli("--config", str(config), "config", "check")
    assert refused.code == 2 and "policy.2027.text" in refused.err
