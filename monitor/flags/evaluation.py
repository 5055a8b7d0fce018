"""Run the rules over the register's latest observations and reconcile the flags.

Factories are taken a chunk at a time with their latest answers, so memory
stays flat however large the register is.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

import structlog
from pydantic import TypeAdapter
from sqlalchemy import Engine, func, or_, select
from sqlmodel import Session, col

from connectors.base import RECORD_TYPES, CanonicalRecord, Topic
from connectors.settings import ConnectorSettings
from monitor.clock import now_utc, today_beijing
from monitor.config import LoadedConfig
from monitor.flags.book import FlagBook, KnownFlag, ReconcileTally, reconcile
from monitor.i18n import using_language
from monitor.rules import FactoryFacts, SourceAnswer, evaluate
from monitor.rules.endings import Outcome, how_it_ended
from monitor.rules.policy import Measures, Policy
from monitor.storage.db import session_scope
from monitor.storage.models import Designation, Factory, Observation
from monitor.vocabulary import DesignationStatus

if TYPE_CHECKING:
    from monitor.alerts.outbox import Outbox

log = structlog.get_logger("sfm.evaluation")

CHUNK = 1000
_ADAPTERS = {topic: TypeAdapter(list[model]) for topic, model in RECORD_TYPES.items()}  # type: ignore[valid-type]


@dataclass
class EvaluationSummary:
    factories: int = 0
    measures: str = ""
    measures_expired: bool = False
    tally: ReconcileTally = field(default_factory=ReconcileTally)
    duration_s: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "factories": self.factories,
            "measures": self.measures,
            "measures_expired": self.measures_expired,
            "flags_opened": self.tally.opened,
            "flags_seen_again": self.tally.seen_again,
            "flags_cleared": self.tally.cleared,
            "flags_recurred": self.tally.recurred,
            "duration_s": round(self.duration_s, 3),
        }


def _records(topic: Topic, stored: Any) -> tuple[CanonicalRecord, ...]:
    adapter = _ADAPTERS[topic]
    parsed = (
        adapter.validate_json(stored)
        if isinstance(stored, str | bytes)
        else (adapter.validate_python(stored))
    )
    return tuple(parsed)


def _answers(
    session: Session, factory_ids: list[int], connectors: list[ConnectorSettings]
) -> dict[int, list[SourceAnswer]]:
    shown = {c.name: c.display_name for c in connectors}
    latest_of = [c.name for c in connectors if c.kind != "files"]
    cumulative = [c.name for c in connectors if c.kind == "files"]
    newest = (
        select(func.max(col(Observation.id)))
        .where(col(Observation.factory_id).in_(factory_ids))
        .where(col(Observation.connector).in_(latest_of))
        .group_by(col(Observation.factory_id), col(Observation.connector))
    )
    query = select(
        col(Observation.id),
        col(Observation.factory_id),
        col(Observation.connector),
        col(Observation.topic),
        col(Observation.outcome),
        col(Observation.records),
        col(Observation.fetched_at),
    ).where(
        or_(
            col(Observation.id).in_(newest),
            col(Observation.factory_id).in_(factory_ids)
            & col(Observation.connector).in_(cumulative)
            & (col(Observation.outcome) == "found"),
        )
    )
    answers: dict[int, list[SourceAnswer]] = defaultdict(list)
    for obs_id, factory_id, connector, topic, outcome, records, fetched_at in session.execute(
        query
    ):
        kind = Topic(topic)
        answers[factory_id].append(
            SourceAnswer(
                connector=connector,
                topic=kind,
                outcome=outcome,
                records=_records(kind, records) if outcome == "found" else (),
                observed_at=fetched_at,
                observation_id=obs_id,
                source_name=shown.get(connector, ""),
            )
        )
    return answers


def _districts(session: Session, factory_ids: list[int]) -> dict[int, tuple[str, ...]]:
    """Each factory's districts, from its designations in force."""
    found: dict[int, set[str]] = defaultdict(set)
    for factory_id, district in session.execute(
        select(col(Designation.factory_id), col(Designation.district_code)).where(
            col(Designation.factory_id).in_(factory_ids),
            col(Designation.status) == DesignationStatus.ACTIVE.value,
        )
    ):
        found[factory_id].add(district)
    return {factory_id: tuple(sorted(codes)) for factory_id, codes in found.items()}


def _clearable(answers: Iterable[SourceAnswer], connectors: list[ConnectorSettings]) -> set[str]:
    """Topics whose every per-factory source gave a real answer (not an error) this time."""
    by_connector = {answer.connector: answer for answer in answers}
    clearable = set()
    for topic in Topic:
        sources = [c.name for c in connectors if c.topic is topic and c.kind != "files"]
        if sources and all(
            name in by_connector and by_connector[name].outcome != "error" for name in sources
        ):
            clearable.add(topic.value)
    return clearable


def _ending(facts: FactoryFacts, today: Policy) -> Callable[[KnownFlag], Outcome]:
    def ended(flag: KnownFlag) -> Outcome:
        return how_it_ended(flag.rule_id, flag.anchor, flag.topic, flag.evidence_key, facts, today)

    return ended


def evaluate_register(
    engine: Engine,
    config: LoadedConfig,
    *,
    today: date | None = None,
    outbox: Outbox | None = None,
    only: list[int] | None = None,
) -> EvaluationSummary:
    """Run the rules over every active factory (or those `only` names); new flags get their
    alerts in the outbox.

    Without an explicit outbox, the one the config's authorities describe is used.
    """
    started = time.monotonic()
    if outbox is None:
        from monitor.alerts.authorities import load_authorities
        from monitor.alerts.outbox import Outbox as OutboxClass

        outbox = OutboxClass(load_authorities(config), config.settings.alerts)
    today = today or today_beijing()
    measures = Measures(config.settings.policy, today)
    choice = measures.now
    connectors = [c for c in config.settings.connectors if c.enabled]
    summary = EvaluationSummary(measures=choice.key, measures_expired=choice.expired)
    if choice.expired:
        log.warning(
            "measures expired", measures=choice.key, expires_on=str(choice.policy.expires_on)
        )
    with session_scope(engine) as session:
        active = select(col(Factory.id)).where(
            col(Factory.status) == DesignationStatus.ACTIVE.value
        )
        if only is not None:
            active = active.where(col(Factory.id).in_(only))
        ids: list[int] = list(session.scalars(active.order_by(col(Factory.id))))
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        now = now_utc()
        with session_scope(engine) as session:
            factories = list(session.scalars(select(Factory).where(col(Factory.id).in_(chunk))))
            book = FlagBook(session, chunk, outbox)
            answers = _answers(session, chunk, connectors)
            districts = _districts(session, chunk)
            for factory in factories:
                assert factory.id is not None
                mine = answers.get(factory.id, [])
                facts = FactoryFacts(
                    factory.credit_code,
                    factory.name,
                    factory.designated_on,
                    factory.baseline_entity_type,
                    tuple(mine),
                    districts.get(factory.id, ()),
                )
                if factory.baseline_entity_type is None:
                    seen = next(
                        (r.entity_type for _, r in facts.registrations() if r.entity_type), None
                    )
                    if seen:
                        factory.baseline_entity_type = seen
                        session.add(factory)
                findings = evaluate(facts, measures)
                with using_language(config.settings.alerts.language):
                    reconcile(
                        book,
                        factory,
                        findings,
                        _clearable(mine, connectors),
                        summary.tally,
                        now,
                        _ending(facts, choice.policy),
                    )
            book.write(now)
        summary.factories += len(chunk)
    summary.duration_s = time.monotonic() - started
    log.info("evaluation finished", **summary.as_json())
    return summary
