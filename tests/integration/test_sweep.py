"""Sweeps over the register, against the simulator, on SQLite and PostgreSQL."""

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlmodel import Session, col

from connectors.settings import ConnectorSettings
from connectors.simulator import RunningSimulator
from monitor.config import LoadedConfig, Settings
from monitor.register.store import import_factories
from monitor.storage.models import ConnectorHealth, ConsumedFile, Factory, Observation, SweepRun
from monitor.sweep.run import SweepSummary, run_sweep
from tests.conftest import DEMO_FACTORIES, REGISTRAR, UPSTREAM, many_factories, shipped_connector

SHIPPED = ("registry-qcc", "credit-qcc", "safety-tyc")


def config_for(connectors: list[ConnectorSettings], **settings: Any) -> LoadedConfig:
    return LoadedConfig(settings=Settings(connectors=connectors, **settings), path=None)


def shipped(simulator: RunningSimulator, **changes: Any) -> list[ConnectorSettings]:
    return [shipped_connector(name, simulator.base_url, **changes) for name in SHIPPED]


def sweep(engine: Engine, config: LoadedConfig, **kwargs: Any) -> SweepSummary:
    return asyncio.run(run_sweep(engine, config, **kwargs))


def observations(engine: Engine, connector: str | None = None) -> list[Observation]:
    with Session(engine) as session:
        query = select(Observation).order_by(col(Observation.id))
        if connector:
            query = query.where(col(Observation.connector) == connector)
        return list(session.scalars(query))


def code_of(engine: Engine, factory_id: int) -> str:
    with Session(engine) as session:
        factory = session.get(Factory, factory_id)
        assert factory is not None
        return factory.credit_code


@pytest.fixture
def register(engine: Engine) -> Engine:
    import_factories(engine, DEMO_FACTORIES, operator=REGISTRAR)
    return engine


def test_a_sweep_stores_one_observation_per_factory_and_connector(
    register: Engine, simulator: RunningSimulator
) -> None:
    summary = sweep(register, config_for(shipped(simulator)))
    assert summary.factories == 34
    for name in SHIPPED:
        tally = summary.connectors[name]
        assert (tally.found, tally.not_found, tally.errors, tally.changed) == (33, 1, 0, 34)
        rows = observations(register, name)
        assert len(rows) == 34 and len({row.factory_id for row in rows}) == 34
    [registration] = [
        row
        for row in observations(register, "registry-qcc")
        if row.records and row.records[0]["raw_status"] == "注销"
    ]
    assert "status" not in registration.records[0]  # the rules map the provider's text
    assert registration.payload["Result"]["Status"] == "注销"
    with Session(register) as session:
        health = session.get(ConnectorHealth, "registry-qcc")
        assert health is not None and health.consecutive_failures == 0
        assert health.last_success_at is not None
        run = session.get(SweepRun, summary.run_id)
        assert run is not None and run.status == "completed"
        assert run.summary["connectors"]["credit-qcc"]["found"] == 33


def test_history_grows_only_when_an_answer_changes(
    register: Engine, simulator: RunningSimulator, upstream: dict[str, Any]
) -> None:
    config = config_for(shipped(simulator))
    sweep(register, config)
    first = {row.id: row.last_checked_at for row in observations(register)}
    again = sweep(register, config)
    assert all(tally.changed == 0 for tally in again.connectors.values())
    later = {row.id: row.last_checked_at for row in observations(register)}
    assert later.keys() == first.keys()
    assert all(later[key] > first[key] for key in first)

    code = next(iter(upstream["factories"]))
    simulator.simulator.factories[code]["registration"]["status"] = "吊销，未注销"
    changed = sweep(register, config)
    assert changed.connectors["registry-qcc"].changed == 1
    assert changed.connectors["credit-qcc"].changed == 0
    history = [
        r for r in observations(register, "registry-qcc") if code_of(register, r.factory_id) == code
    ]
    statuses = [r.records[0]["raw_status"] for r in history]
    assert statuses == ["存续（在营、开业、在册）", "吊销，未注销"]


def test_a_failing_factory_is_an_error_row_and_never_aborts_the_sweep(
    register: Engine, simulator: RunningSimulator, upstream: dict[str, Any]
) -> None:
    failing = list(upstream["factories"])[:2]
    simulator.simulator.behaviour.fail_codes = {failing[0]: "503", failing[1]: "bad_json"}
    config = config_for([shipped_connector("registry-qcc", simulator.base_url, retries=0)])
    summary = sweep(register, config)
    tally = summary.connectors["registry-qcc"]
    assert (tally.found, tally.not_found, tally.errors) == (31, 1, 2)
    assert dict(tally.error_kinds) == {"http_5xx": 1, "bad_json": 1}
    errors = [row for row in observations(register) if row.outcome == "error"]
    assert {code_of(register, row.factory_id) for row in errors} == set(failing)
    assert all(row.records == [] and row.payload is None for row in errors)
    with Session(register) as session:
        health = session.get(ConnectorHealth, "registry-qcc")
        assert health is not None and health.last_error_kind in ("http_5xx", "bad_json")

    simulator.simulator.behaviour.fail_codes = {}
    recovered = sweep(register, config)
    assert recovered.connectors["registry-qcc"].changed == 2  # error → found is news


def test_one_factory_and_one_topic(
    register: Engine, simulator: RunningSimulator, upstream: dict[str, Any]
) -> None:
    code = list(upstream["factories"])[3]
    summary = sweep(
        register, config_for(shipped(simulator)), factory_code=code.lower(), topic="credit"
    )
    assert list(summary.connectors) == ["credit-qcc"] and summary.factories == 1
    [row] = observations(register)
    assert code_of(register, row.factory_id) == code


def test_files_are_consumed_once_and_bad_files_rejected_once(
    register: Engine, tmp_path: Path, upstream: dict[str, Any]
) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    code = list(upstream["factories"])[5]
    (drop / "a.csv").write_text(
        "统一社会信用代码,编号,类型,日期\n"
        f"{code},AQ-7,生产安全事故,2026-10-01\n"
        "91110000600037341L,AQ-8,生产安全事故,2026-10-02\n",  # not in the register
        encoding="gb18030",
    )
    (drop / "b.csv").write_text(
        # a row with no record id: not the configured shape at all
        f"统一社会信用代码,编号,类型,日期\n{code},,生产安全事故,2026-10-03\n",
        encoding="utf-8",
    )
    files = ConnectorSettings.model_validate(
        {
            "name": "bureau-drop",
            "kind": "files",
            "topic": "safety",
            "path": str(drop),
            "fields": {
                "credit_code": "统一社会信用代码",
                "record_id": "编号",
                "category": "类型",
                "occurred_on": "日期",
            },
            "values": {"category": {"生产安全事故": "production_safety"}},
        }
    )
    first = sweep(register, config_for([files])).connectors["bureau-drop"]
    assert (first.files_read, first.files_rejected, first.unmatched_codes) == (1, 1, 1)
    assert (first.found, first.errors, first.changed) == (1, 1, 1)
    [row] = observations(register)
    assert code_of(register, row.factory_id) == code and row.records[0]["record_id"] == "AQ-7"
    second = sweep(register, config_for([files])).connectors["bureau-drop"]
    assert (second.files_read, second.files_rejected) == (0, 0)
    with Session(register) as session:
        states = {f.file_name: f.status for f in session.scalars(select(ConsumedFile))}
    assert states == {"a.csv": "consumed", "b.csv": "rejected"}


def test_a_sweep_killed_midway_leaves_the_database_consistent_and_the_next_completes(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    import_factories(engine, many_factories(tmp_path / "many.csv", 300), operator=REGISTRAR)
    config = tmp_path / "sfm.toml"
    shipped_text = (Path(__file__).parents[2] / "config" / "sfm.toml").read_text(encoding="utf-8")
    config.write_text(
        shipped_text.replace('url = "sqlite:///var/sfm.db"', f'url = "{database_url}"')
        .replace(
            "[simulator]\n",
            f'[simulator]\ndata = "{UPSTREAM}"\nlatency_ms = 100\nsynthesize = true\n',
        )
        .replace('file = "var/log/sfm.log"', f'file = "{tmp_path / "sfm.log"}"'),
        encoding="utf-8",
    )
    sfm = [sys.executable, "-m", "monitor.cli", "--config", str(config), "check"]
    env = {**os.environ, "SFM_LANG": "en"}
    process = subprocess.Popen(
        sfm, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 60
    while len(observations(engine)) < 200 and time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    partial = observations(engine)
    assert 0 < len(partial) < 900  # killed midway: some batches stored, not all
    assert all(row.outcome == "found" for row in partial)
    assert all(row.records for row in partial if row.connector == "registry-qcc")

    rerun = subprocess.run(
        [*sfm, "--json"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert rerun.returncode == 0, rerun.stderr
    rows = observations(engine)
    with Session(engine) as session:
        runs = [run.status for run in session.scalars(select(SweepRun).order_by(col(SweepRun.id)))]
        factories = session.scalar(select(func.count()).select_from(Factory))
    assert runs == ["interrupted", "completed"]
    for name in SHIPPED:
        assert len({row.factory_id for row in rows if row.connector == name}) == factories
    # what the killed run stored was an answer; the re-run only moved last_checked_at
    assert len(rows) == 900


def refuse_observations(engine: Engine) -> None:
    """Make the database itself refuse new observations, in every process that writes."""
    with engine.begin() as connection:
        if engine.dialect.name == "sqlite":
            connection.exec_driver_sql(
                "CREATE TRIGGER refuse BEFORE INSERT ON observation "
                "BEGIN SELECT RAISE(ABORT, 'database went away'); END"
            )
        else:
            connection.exec_driver_sql(
                "CREATE FUNCTION refuse() RETURNS trigger AS "
                "$$ BEGIN RAISE EXCEPTION 'database went away'; END $$ LANGUAGE plpgsql"
            )
            connection.exec_driver_sql(
                "CREATE TRIGGER refuse BEFORE INSERT ON observation "
                "FOR EACH ROW EXECUTE FUNCTION refuse()"
            )


def test_a_storage_failure_stops_the_sweep_with_its_error_instead_of_hanging(
    register: Engine, simulator: RunningSimulator
) -> None:
    refuse_observations(register)
    config = config_for(
        [shipped_connector("registry-qcc", simulator.base_url)],
        sweep={"batch_size": 2},
    )
    with pytest.raises(Exception, match="database went away"):
        asyncio.run(asyncio.wait_for(run_sweep(register, config), timeout=60))
    assert observations(register) == []


def test_connector_health_follows_the_latest_outcomes_across_batches(register: Engine) -> None:
    from datetime import UTC, datetime, timedelta

    from connectors.base import ErrorKind, FetchOutcome, Topic
    from monitor.sweep.observations import ObservationStore

    with Session(register) as session:
        run = SweepRun(scope={})
        session.add(run)
        session.commit()
        assert run.id is not None
        store = ObservationStore(register, "registry-qcc", Topic.REGISTRATION, sweep_id=run.id)
    start = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)

    def at(minute: int) -> datetime:
        return start + timedelta(minutes=minute)

    def failed(code: str, minute: int) -> FetchOutcome:
        return FetchOutcome.error("registry-qcc", code, ErrorKind.TIMEOUT, "slow", at(minute))

    def answered(code: str, minute: int) -> FetchOutcome:
        return FetchOutcome.not_found("registry-qcc", code, {"Status": "201"}, at(minute))

    def health() -> ConnectorHealth:
        with Session(register) as session:
            found = session.get(ConnectorHealth, "registry-qcc")
            assert found is not None
            return found

    store.write([(1, failed("A", 0)), (2, answered("B", 1)), (3, failed("C", 2))])
    first = health()
    assert first.consecutive_failures == 1
    assert first.last_success_at == at(1)
    assert (first.last_error_at, first.last_error_kind) == (at(2), "timeout")
    assert first.last_error_detail == "C: slow"

    store.write([(4, failed("D", 3)), (5, failed("E", 4))])
    assert health().consecutive_failures == 3  # no success in between: the run goes on
    assert health().last_success_at == at(1)

    store.write([(6, answered("F", 5))])
    assert health().consecutive_failures == 0
    assert health().last_error_detail == "E: slow"  # the last error is still on record


def test_a_sweep_of_one_factory_evaluates_that_factory_only(
    register: Engine, simulator: RunningSimulator, upstream: dict[str, Any]
) -> None:
    code = next(iter(upstream["factories"]))
    summary = sweep(register, config_for(shipped(simulator)), factory_code=code)
    assert summary.factories == 1
    assert summary.evaluation is not None and summary.evaluation.factories == 1
    assert {code_of(register, row.factory_id) for row in observations(register)} == {code}


def test_the_sweep_does_not_start_the_simulator_its_caller_does(register: Engine) -> None:
    from connectors.errors import ConnectorSetupError

    placeholder = shipped_connector("registry-qcc", "{simulator}")
    with pytest.raises(ConnectorSetupError, match="no simulator is running"):
        sweep(register, config_for([placeholder]))
    with Session(register) as session:
        assert list(session.scalars(select(SweepRun))) == []  # nothing was recorded


def test_the_collector_walks_young_objects_seldom_while_a_sweep_fetches_and_is_restored(
    register: Engine, simulator: RunningSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gc

    import monitor.sweep.run as sweep_run

    before = gc.get_threshold()
    seen: list[tuple[int, ...]] = []
    fetch = sweep_run._sweep_connectors

    async def recording(*args: Any) -> None:
        seen.append(gc.get_threshold())
        await fetch(*args)

    monkeypatch.setattr(sweep_run, "_sweep_connectors", recording)
    sweep(register, config_for(shipped(simulator)))
    assert seen == [(max(before[0], 20_000), *before[1:])]
    assert gc.get_threshold() == before

    async def failing(*args: Any) -> None:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(sweep_run, "_sweep_connectors", failing)
    with pytest.raises(RuntimeError):
        sweep(register, config_for(shipped(simulator)))
    assert gc.get_threshold() == before


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_write_lock_held_elsewhere_never_holds_up_the_answers_in_flight(
    register: Engine, simulator: RunningSimulator
) -> None:
    """On SQLite the writer stores its batches on the event loop. Were it to wait there
    for another connection's write lock, every answer in flight would time out meanwhile
    (here 0.5 s, no retry): it hands that batch to a thread instead."""
    import sqlite3
    import threading

    holder = sqlite3.connect(
        str(register.url.database), isolation_level=None, check_same_thread=False
    )
    released = threading.Event()

    def release() -> None:
        holder.execute("COMMIT")
        released.set()

    def take_the_lock(_connector: str) -> None:  # at the first answer, for 1.5 s
        if not holder.in_transaction and not released.is_set():
            holder.execute("BEGIN IMMEDIATE")
            threading.Timer(1.5, release).start()

    config = config_for(
        [
            shipped_connector(
                "registry-qcc", simulator.base_url, timeout_s=0.5, retries=0, concurrency=4
            )
        ],
        sweep={"batch_size": 2},
    )
    try:
        summary = sweep(register, config, progress=take_the_lock)
    finally:
        released.wait(5)
        holder.close()
    tally = summary.connectors["registry-qcc"]
    assert released.is_set()
    assert (tally.found, tally.not_found, tally.errors) == (33, 1, 0), tally.as_json()
    assert len(observations(register)) == 34


def test_overlapping_sweeps_restore_the_collector_when_the_last_one_ends() -> None:
    import gc

    from monitor.sweep.run import _SweepCollector

    before = gc.get_threshold()
    collector = _SweepCollector()
    try:
        with collector.raised():
            with collector.raised():
                assert gc.get_threshold()[0] == max(before[0], 20_000)
            assert gc.get_threshold()[0] == max(before[0], 20_000)
        assert gc.get_threshold() == before
        gc.set_threshold(50_000, *before[1:])  # a client's process collects seldom already
        with collector.raised():
            assert gc.get_threshold()[0] == 50_000
        assert gc.get_threshold() == (50_000, *before[1:])
        with collector.raised():
            gc.set_threshold(1_000, *before[1:])  # set by another meanwhile: theirs
        assert gc.get_threshold() == (1_000, *before[1:])
        gc.set_threshold(0, *before[1:])  # the collector switched off stays off
        with collector.raised():
            assert gc.get_threshold()[0] == 0
        assert gc.get_threshold()[0] == 0
    finally:
        gc.set_threshold(*before)
