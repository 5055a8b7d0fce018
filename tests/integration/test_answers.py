"""Answers bound to the factory asked, and one poison record stopping nothing (issue 21).

Through the real sweep, the simulator on a real loopback port, and storage on
SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select, text
from sqlmodel import Session, col

from connectors.base import CreditKind, CreditRecord, FetchOutcome, RegistrationRecord, Topic
from connectors.settings import ConnectorSettings
from connectors.simulator import RunningSimulator
from monitor.config import LoadedConfig, Settings
from monitor.register.store import import_factories
from monitor.storage.models import (
    ConnectorHealth,
    ConsumedFile,
    Factory,
    Flag,
    Observation,
    SweepRun,
)
from monitor.sweep.observations import ConnectorTally, ObservationStore
from monitor.sweep.run import SweepSummary, run_sweep
from tests.conftest import DEMO_FACTORIES, REGISTRAR, shipped_connector

ACTIVE = "911101085214771897"  # 存续, nothing listed
DEREGISTERED = "911101081235534499"  # 注销: another designated factory
CREDIT_LISTED = ("91110109994313520T", "911101111472922987")  # one listing each
SAFETY_LISTED = ("9111010646142448XR", "911101079751730917")  # one accident each
POISON = "\ud800\u202e\u200d\x00"  # a lone surrogate, RIGHT-TO-LEFT OVERRIDE, ZWJ, NUL


def fullwidth(code: str) -> str:
    return "".join(chr(ord(char) + 0xFEE0) for char in code)


def config_for(connectors: list[ConnectorSettings]) -> LoadedConfig:
    return LoadedConfig(settings=Settings(connectors=connectors), path=None)


def sweep(engine: Engine, connectors: list[ConnectorSettings]) -> SweepSummary:
    return asyncio.run(run_sweep(engine, config_for(connectors)))


def factory_id(engine: Engine, code: str) -> int:
    with Session(engine) as session:
        found = session.scalars(select(Factory).where(col(Factory.credit_code) == code)).one()
        assert found.id is not None
        return found.id


def latest(engine: Engine, connector: str, code: str) -> Observation:
    with Session(engine) as session:
        return session.scalars(
            select(Observation)
            .where(col(Observation.connector) == connector)
            .where(col(Observation.factory_id) == factory_id(engine, code))
            .order_by(col(Observation.id).desc())
            .limit(1)
        ).one()


def flags_of(engine: Engine, code: str) -> list[str]:
    with Session(engine) as session:
        return list(
            session.scalars(
                select(col(Flag.rule_id)).where(col(Flag.factory_id) == factory_id(engine, code))
            )
        )


def run_status(engine: Engine, run_id: int) -> SweepRun:
    with Session(engine) as session:
        run = session.get(SweepRun, run_id)
        assert run is not None
        return run


@pytest.fixture
def register(engine: Engine) -> Engine:
    import_factories(engine, DEMO_FACTORIES, operator=REGISTRAR)
    return engine


# ---------------------------------------------------------------- bound to the code asked


def test_a_registry_answering_with_another_company_is_a_mismatch_and_raises_nothing(
    register: Engine, simulator: RunningSimulator
) -> None:
    """The aggregator answers our active factory with another designated factory's record,
    status 注销: no termination, no rename, only an error outcome of its own kind."""
    simulator.simulator.behaviour.answer_as = {ACTIVE: DEREGISTERED}
    summary = sweep(register, [shipped_connector("registry-qcc", simulator.base_url)])

    tally = summary.connectors["registry-qcc"]
    assert dict(tally.error_kinds) == {"mismatch": 1}
    assert (tally.found, tally.not_found, tally.errors) == (32, 1, 1)
    asked = latest(register, "registry-qcc", ACTIVE)
    assert (asked.outcome, asked.error_kind) == ("error", "mismatch")
    assert asked.records == [] and asked.payload is None
    assert DEREGISTERED in (asked.error_detail or "") and ACTIVE in (asked.error_detail or "")
    assert flags_of(register, ACTIVE) == []
    # the other company's own answer still counts for it
    assert "art12.2-terminated" in flags_of(register, DEREGISTERED)
    with Session(register) as session:
        health = session.get(ConnectorHealth, "registry-qcc")
        assert health is not None and health.last_error_kind == "mismatch"
        assert ACTIVE in (health.last_error_detail or "")
    assert run_status(register, summary.run_id).status == "completed"


def test_a_mismatch_after_a_good_answer_changes_nothing_the_rules_read(
    register: Engine, simulator: RunningSimulator
) -> None:
    connectors = [shipped_connector("registry-qcc", simulator.base_url)]
    sweep(register, connectors)
    before = flags_of(register, ACTIVE)
    simulator.simulator.behaviour.answer_as = {ACTIVE: DEREGISTERED}
    sweep(register, connectors)
    assert latest(register, "registry-qcc", ACTIVE).error_kind == "mismatch"
    assert flags_of(register, ACTIVE) == before == []


def test_another_companys_healthy_record_never_clears_a_factorys_case(
    register: Engine, simulator: RunningSimulator
) -> None:
    """The mirror case: our 注销 factory answered with an active company's record stays
    a termination case; nothing about it is taken from the other company."""
    connectors = [shipped_connector("registry-qcc", simulator.base_url)]
    sweep(register, connectors)
    simulator.simulator.behaviour.answer_as = {DEREGISTERED: ACTIVE}
    sweep(register, connectors)
    assert latest(register, "registry-qcc", DEREGISTERED).error_kind == "mismatch"
    with Session(register) as session:
        states = dict(
            session.execute(
                select(col(Flag.rule_id), col(Flag.state)).where(
                    col(Flag.factory_id) == factory_id(register, DEREGISTERED)
                )
            ).all()
        )
    assert states["art12.2-terminated"] == "open"


def test_a_full_width_look_alike_of_the_code_asked_is_the_same_code_and_noted(
    register: Engine, simulator: RunningSimulator
) -> None:
    simulator.simulator.behaviour.answer_as = {ACTIVE: fullwidth(ACTIVE)}
    summary = sweep(register, [shipped_connector("registry-qcc", simulator.base_url)])
    tally = summary.connectors["registry-qcc"]
    assert (tally.errors, tally.codes_folded) == (0, 1)
    assert summary.as_json()["connectors"]["registry-qcc"]["codes_folded"] == 1
    stored = latest(register, "registry-qcc", ACTIVE)
    assert stored.outcome == "found"
    assert stored.records[0]["credit_code"] == ACTIVE  # stored as the code, not the look-alike
    assert stored.payload["Result"]["CreditCode"] == fullwidth(ACTIVE)  # the evidence as sent


def test_a_code_differing_in_more_than_width_is_a_mismatch(
    register: Engine, simulator: RunningSimulator
) -> None:
    """Only NFKC and case are forgiven: a code one character off is another company."""
    near = ACTIVE[:-1] + "8"
    simulator.simulator.behaviour.answer_as = {ACTIVE: fullwidth(near)}
    simulator.simulator.factories[near] = simulator.simulator.factories[ACTIVE]
    summary = sweep(register, [shipped_connector("registry-qcc", simulator.base_url)])
    assert dict(summary.connectors["registry-qcc"].error_kinds) == {"mismatch": 1}
    assert latest(register, "registry-qcc", ACTIVE).error_kind == "mismatch"


@pytest.mark.parametrize(
    ("connector", "listed", "record_path"),
    [
        ("credit-qcc", CREDIT_LISTED, ("Result", "Data", "Id")),
        ("safety-tyc", SAFETY_LISTED, ("result", "items", "id")),
    ],
    ids=["credit", "safety"],
)
def test_a_list_answer_mixing_codes_keeps_the_factorys_own_records_only(
    register: Engine,
    simulator: RunningSimulator,
    upstream: dict[str, Any],
    connector: str,
    listed: tuple[str, str],
    record_path: tuple[str, str, str],
) -> None:
    ours, theirs = listed
    topic = "credit" if "Result" in record_path else "safety"
    simulator.simulator.behaviour.mix_lists = {ours: theirs, ACTIVE: theirs}
    settings = shipped_connector(connector, simulator.base_url)  # maps each listing's code
    summary = sweep(register, [settings])
    tally = summary.connectors[settings.name]
    assert tally.other_codes_dropped == 1  # `ours` lost the one listing of `theirs`
    assert dict(tally.error_kinds) == {"mismatch": 1}  # ACTIVE: nothing but theirs

    stored = latest(register, settings.name, ours)
    own_ids = [item["id"] for item in upstream["factories"][ours][topic]]
    assert stored.outcome == "found"
    assert [record["record_id"] for record in stored.records] == own_ids
    assert {record["credit_code"] for record in stored.records} == {ours}
    kept = stored.payload[record_path[0]][record_path[1]]
    assert [item[record_path[2]] for item in kept] == own_ids  # the evidence: ours alone
    assert latest(register, settings.name, ACTIVE).error_kind == "mismatch"
    # theirs, asked about itself, is found as before
    assert latest(register, settings.name, theirs).outcome == "found"


# ---------------------------------------------------------------- one poison record


def poison_every_text(entry: dict[str, Any]) -> None:
    registration = entry["registration"]
    for key in ("name", "address", "authority", "status", "entity_type"):
        registration[key] = f"北京{POISON}{registration.get(key) or '测试'}"
    registration["former_names"] = [f"旧{POISON}名"]
    for item in entry.get("credit", []):
        for key in ("id", "authority", "document_no", "reason"):
            item[key] = f"{POISON}{item.get(key) or '文'}"
    for item in entry.get("safety", []):
        for key in ("id", "summary"):
            item[key] = f"{POISON}{item.get(key) or '事'}"


@pytest.mark.parametrize(
    ("connector", "code"),
    [
        ("registry-qcc", ACTIVE),
        ("credit-qcc", CREDIT_LISTED[0]),
        ("safety-tyc", SAFETY_LISTED[0]),
    ],
)
def test_a_poisoned_name_in_each_topic_stops_nothing(
    register: Engine, simulator: RunningSimulator, connector: str, code: str
) -> None:
    poison_every_text(simulator.simulator.factories[code])
    summary = sweep(register, [shipped_connector(connector, simulator.base_url)])

    assert run_status(register, summary.run_id).status == "completed"
    tally = summary.connectors[connector]
    assert (tally.found, tally.not_found, tally.errors) == (33, 1, 0)
    with Session(register) as session:
        stored = session.scalars(
            select(Observation).where(col(Observation.connector) == connector)
        ).all()
    assert len({row.factory_id for row in stored}) == 34  # every factory's answer kept

    poisoned = latest(register, connector, code)
    assert poisoned.outcome == "found"
    record = poisoned.records[0]
    shown = record.get("name") or record.get("authority") or record.get("summary")
    assert shown is not None
    assert "\ufffd" in shown  # the surrogate and the NUL, replaced
    assert not any(char in shown for char in "\u202e\u200d\x00")
    assert not any(char in record.get("record_id", "") for char in "\u202e\u200d\x00")
    # the evidence keeps what was sent, written out where it can be seen
    evidence = json.dumps(poisoned.payload, ensure_ascii=False)
    assert "\\\\ud800\\\\u202e\\\\u200d\\\\u0000" in evidence


def test_a_poisoned_registration_name_is_stored_as_text_the_rules_can_read(
    register: Engine, simulator: RunningSimulator
) -> None:
    simulator.simulator.factories[ACTIVE]["registration"]["name"] = f"北京{POISON}测试有限公司"
    sweep(register, [shipped_connector("registry-qcc", simulator.base_url)])
    record = latest(register, "registry-qcc", ACTIVE).records[0]
    assert record["name"] == "北京\ufffd\ufffd测试有限公司"


def answered(code: str, name: str = "北京测试有限公司") -> FetchOutcome:
    now = datetime.now(UTC)
    record = RegistrationRecord(
        source="plugin", fetched_at=now, credit_code=code, name=name, raw_status="存续"
    )
    return FetchOutcome.found("plugin", code, [record], {"Name": name}, now)


def test_an_answer_the_database_refuses_is_that_factorys_error_and_the_batch_is_stored(
    register: Engine,
) -> None:
    """A plugin's outcome that passes every check in sfm but the database's own (here: an
    outcome kind outside the vocabulary) fails its transaction; the batch is stored one
    answer at a time, and the refused one becomes an `unstorable` error."""
    with Session(register) as session:
        run = SweepRun()
        session.add(run)
        session.commit()
        assert run.id is not None
        codes = list(session.scalars(select(col(Factory.credit_code)).order_by(col(Factory.id))))
    ids = [factory_id(register, code) for code in codes[:3]]
    tally = ConnectorTally(topic="registration")
    store = ObservationStore(register, "plugin", Topic.REGISTRATION, run.id, tally)
    bad = answered(codes[1])
    object.__setattr__(bad, "kind", "maybe")  # what a buggy plugin could hand over
    unserialisable = answered(codes[2], name="北京\ud800有限公司")  # built without the mapper

    added = store.write([(ids[0], answered(codes[0])), (ids[1], bad), (ids[2], unserialisable)])

    assert added == 3
    assert (tally.found, tally.errors, dict(tally.error_kinds)) == (1, 2, {"unstorable": 2})
    assert latest(register, "plugin", codes[0]).outcome == "found"
    for code in codes[1:3]:
        refused = latest(register, "plugin", code)
        assert (refused.outcome, refused.error_kind) == ("error", "unstorable")
        assert "could not be stored" in (refused.error_detail or "")


def test_a_nan_from_a_plugin_is_an_error_not_a_refused_batch(register: Engine) -> None:
    """NaN is not JSON: PostgreSQL would refuse the whole batch over it."""
    with Session(register) as session:
        run = SweepRun()
        session.add(run)
        session.commit()
        assert run.id is not None
    now = datetime.now(UTC)
    record = CreditRecord(
        source="plugin", fetched_at=now, record_id="1", kind=CreditKind.ADMINISTRATIVE_PENALTY
    )
    nan = FetchOutcome.found("plugin", ACTIVE, [record], {"Amount": float("nan")}, now)
    tally = ConnectorTally(topic="credit")
    store = ObservationStore(register, "plugin", Topic.CREDIT, run.id, tally)
    store.write([(factory_id(register, ACTIVE), nan), (factory_id(register, DEREGISTERED), nan)])
    assert dict(tally.error_kinds) == {"unstorable": 2}


def test_an_error_never_leaves_a_sweep_running(
    register: Engine, simulator: RunningSimulator
) -> None:
    """The observations table gone from under the sweep: the sweep fails, saying why, and
    its run is recorded as cut short, not left `running` for ever."""
    with register.begin() as connection:
        connection.execute(text("ALTER TABLE observation RENAME TO observation_elsewhere"))
    try:
        with pytest.raises(Exception, match="observation"):
            sweep(register, [shipped_connector("registry-qcc", simulator.base_url)])
    finally:
        with register.begin() as connection:
            connection.execute(text("ALTER TABLE observation_elsewhere RENAME TO observation"))
    with Session(register) as session:
        [run] = session.scalars(select(SweepRun)).all()
    assert run.status == "interrupted" and run.finished_at is not None
    assert "observation" in run.summary["error"]


def test_a_dropped_row_with_a_bad_check_character_is_reported_and_attached_to_no_factory(
    register: Engine, tmp_path: Path
) -> None:
    """DEREGISTERED with its last character changed is no factory's code: its major
    accident is reported with the file and row, and no factory is flagged for it."""
    wrong = DEREGISTERED[:-1] + ("8" if DEREGISTERED[-1] != "8" else "7")
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "accidents.csv").write_text(
        "统一社会信用代码,编号,类型,日期,死亡人数\n"
        f"{ACTIVE},AQ-1,生产安全事故,2026-10-01,0\n"
        f"{wrong},AQ-2,生产安全事故,2026-10-02,12\n",
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
                "deaths": "死亡人数",
            },
            "values": {"category": {"生产安全事故": "production_safety"}},
        }
    )
    summary = sweep(register, [files])
    tally = summary.connectors["bureau-drop"]
    assert (tally.files_read, tally.files_rejected, tally.rows_rejected) == (1, 0, 1)
    assert (tally.found, tally.unmatched_codes) == (1, 0)
    with Session(register) as session:
        stored = session.scalars(select(Observation)).all()
        [consumed] = session.scalars(select(ConsumedFile)).all()
    assert [r["record_id"] for row in stored for r in row.records] == ["AQ-1"]
    assert consumed.status == "consumed"
    assert consumed.error is not None and consumed.error.startswith("accidents.csv, row 3: ")
    assert "check character" in consumed.error
    assert flags_of(register, DEREGISTERED) == []


def test_sfm_check_says_what_it_set_aside(
    tmp_path: Path, database_url: str, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The person running `sfm check` reads which rows were attached to no factory."""
    from tests.conftest import Cli, write_config

    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "a.csv").write_text(
        f"统一社会信用代码,编号,类型,日期\n{ACTIVE},AQ-1,生产安全事故,2026-10-01\n"
        f"{ACTIVE[:-1]}0,AQ-2,生产安全事故,2026-10-01\n",
        encoding="utf-8",
    )
    files = f"""
[[connectors]]
name = "bureau-drop"
kind = "files"
topic = "safety"
path = "{drop}"
[connectors.fields]
credit_code = "统一社会信用代码"
record_id = "编号"
category = "类型"
occurred_on = "日期"
"""
    checking = Cli(cli.capsys, write_config(tmp_path, database_url, files))
    assert checking("factories", "import", str(DEMO_FACTORIES)).code == 0
    monkeypatch.setenv("SFM_LANG", "en")
    done = checking("check")
    assert done.code == 0, done.err
    assert "bureau-drop: 0 records about another credit code left out" in done.out
    assert "1 dropped rows whose credit code failed its check" in done.out


def test_a_poisoned_json_drop_file_is_stored_cleaned_with_its_evidence_visible(
    register: Engine, tmp_path: Path
) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    items = [
        {"code": f"\u200b{ACTIVE}\u202e", "id": f"AQ{POISON}1", "summary": f"爆炸{POISON}"},
        {"code": DEREGISTERED, "id": "AQ-2", "summary": "泄漏"},
    ]
    (drop / "accidents.json").write_text(
        json.dumps({"items": items}), encoding="utf-8"
    )  # ASCII escapes: "\\ud800" as a provider's JSON carries it
    files = ConnectorSettings.model_validate(
        {
            "name": "bureau-json",
            "kind": "files",
            "topic": "safety",
            "path": str(drop),
            "record_path": "items",
            "constants": {"category": "production_safety", "occurred_on": "2026-10-01"},
            "fields": {"credit_code": "code", "record_id": "id", "summary": "summary"},
        }
    )
    summary = sweep(register, [files])
    assert run_status(register, summary.run_id).status == "completed"
    tally = summary.connectors["bureau-json"]
    assert (tally.files_read, tally.found, tally.errors, tally.rows_rejected) == (1, 2, 0, 0)
    poisoned = latest(register, "bureau-json", ACTIVE)
    [record] = poisoned.records
    assert (record["record_id"], record["summary"]) == ("AQ\ufffd\ufffd1", "爆炸\ufffd\ufffd")
    assert record["credit_code"] == ACTIVE
    evidence = json.dumps(poisoned.payload, ensure_ascii=False)
    assert "\\\\u200b" + ACTIVE in evidence and "\\\\ud800\\\\u202e" in evidence
    assert latest(register, "bureau-json", DEREGISTERED).records[0]["summary"] == "泄漏"
