"""Arbitrary Unicode in every mapped text field of every topic, through the real sweep.

Lone surrogates, control characters, bidi controls, zero-width characters and NUL
in the provider's text (and around the credit code it echoes) reach the simulator
on a real loopback port, the real connectors and mapping, and storage on SQLite
and PostgreSQL. Whatever the text, the sweep completes, every factory has its
outcome, and what is stored carries none of the unstorable or invisible characters
where the rules and officials read it.
"""

from __future__ import annotations

import asyncio
import copy
import os
import re
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select
from sqlmodel import Session, col

from connectors.simulator import RunningSimulator, Simulator
from monitor.config import LoadedConfig, Settings
from monitor.register.store import import_factories
from monitor.storage.models import Observation, SweepRun
from monitor.sweep.run import run_sweep
from tests.conftest import DEMO_FACTORIES, REGISTRAR, shipped_connector

# each example is a sweep of the whole demo register, six ways (three topics, two
# databases): a twentieth of the other fuzz tests' examples (100 in make stress)
EXAMPLES = max(8, int(os.environ.get("SFM_FUZZ_EXAMPLES", "60")) // 20)
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

HOSTILE = [
    "\x00",
    "\ud800",
    "\udfff",
    "\udc80",
    "\u202a",
    "\u202b",
    "\u202c",
    "\u202d",
    "\u202e",
    "\u2066",
    "\u2067",
    "\u2068",
    "\u2069",
    "\u200b",
    "\u200c",
    "\u200d",
    "\u2060",
    "\ufeff",
    "\x1b[31m",
    "\x07",
    "\r\n",
    "\u0085",
    "\\u0000",
]
ANY_CHARACTER = st.characters(exclude_categories=())  # surrogates (Cs) included
HOSTILE_TEXT = st.lists(
    st.one_of(st.sampled_from(HOSTILE), ANY_CHARACTER, st.sampled_from(["北京", "有限公司"])),
    max_size=12,
).map("".join)

# what the simulator serves as text, per topic (the shipped connectors map each of them)
TEXT_FIELDS = {
    "registration": ["name", "status", "address", "authority", "entity_type", "division_code"],
    "credit": ["id", "type", "authority", "document_no", "reason"],
    "safety": ["id", "category", "grade", "summary"],
}
CONNECTOR = {"registration": "registry-qcc", "credit": "credit-qcc", "safety": "safety-tyc"}
NEVER_STORED = re.compile("[\x00\ud800-\udfff\u202a-\u202e\u2066-\u2069\u200b-\u200d\u2060\ufeff]")


@pytest.fixture
def fuzzed(
    engine: Engine, upstream: dict[str, Any]
) -> Iterator[tuple[Engine, Simulator, str, dict[str, Any]]]:
    import_factories(engine, DEMO_FACTORIES, operator=REGISTRAR)
    simulator = Simulator(copy.deepcopy(upstream))
    with RunningSimulator(simulator) as running:
        yield engine, simulator, running.base_url, upstream


def poisoned_entry(entry: dict[str, Any], topic: str, texts: list[str], former: str) -> None:
    """`texts` into every text field of the topic's part of one factory's upstream entry."""
    if topic == "registration":
        targets = [entry["registration"]]
        entry["registration"]["former_names"] = [former]
    else:
        targets = entry.setdefault(topic, [])
        if not targets:  # a listing to poison, shaped as the demo's own
            targets.append(
                {"id": "X-1", "type": "行政处罚", "decided_on": "2026-01-05"}
                if topic == "credit"
                else {"id": "X-1", "category": "生产安全事故", "occurred_on": "2026-01-05"}
            )
    for target in targets:
        for field, text in zip(TEXT_FIELDS[topic], texts, strict=False):
            target[field] = text


def strings_in(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)


@pytest.mark.parametrize("topic", list(TEXT_FIELDS))
@FUZZ
@given(data=st.data())
def test_arbitrary_unicode_in_every_text_field_stops_nothing(
    fuzzed: tuple[Engine, Simulator, str, dict[str, Any]], topic: str, data: st.DataObject
) -> None:
    engine, simulator, base_url, upstream = fuzzed
    simulator.factories = copy.deepcopy(upstream["factories"])  # each example poisons anew
    codes = list(simulator.factories)
    poisoned = data.draw(st.lists(st.sampled_from(codes), min_size=1, max_size=3, unique=True))
    for code in poisoned:
        texts = data.draw(st.lists(HOSTILE_TEXT, min_size=6, max_size=6))
        poisoned_entry(simulator.factories[code], topic, texts, data.draw(HOSTILE_TEXT))
    # the code the registry echoes, with invisible characters around and inside it
    noise = st.sampled_from(["", "\u200b", "\u202e", "\ufeff", "\u2066"])
    echoed = {
        code: data.draw(noise) + code[:9] + data.draw(noise) + code[9:] + data.draw(noise)
        for code in poisoned
    }
    simulator.behaviour.answer_as = echoed if topic == "registration" else {}
    connector = shipped_connector(CONNECTOR[topic], base_url, retries=0)
    config = LoadedConfig(settings=Settings(connectors=[connector]), path=None)

    summary = asyncio.run(asyncio.wait_for(run_sweep(engine, config), timeout=120))

    tally = summary.connectors[connector.name]
    assert tally.found + tally.not_found + tally.errors == len(codes) + 1  # + the absent one
    # a text that is nothing once cleaned can leave a required field empty: that answer
    # does not fit the mapping; nothing else may go wrong
    assert set(tally.error_kinds) <= {"schema_mismatch"}
    assert tally.found >= len(codes) - len(poisoned)
    with Session(engine) as session:
        run = session.get(SweepRun, summary.run_id)
        assert run is not None and run.status == "completed"
        stored = session.scalars(
            select(Observation)
            .where(col(Observation.connector) == connector.name)
            .order_by(col(Observation.id))
        ).all()
    latest = {row.factory_id: row for row in stored}
    assert len(latest) == len(codes) + 1  # every factory has its answer
    for row in latest.values():
        for text in strings_in(row.records):
            assert NEVER_STORED.search(text) is None, (row.factory_id, text)
        for text in strings_in(row.payload):
            assert re.search("[\x00\ud800-\udfff]", text) is None, (row.factory_id, text)
