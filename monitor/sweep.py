"""Sweeps: run the connectors over the designated factories and keep what they said.

Each connector runs its own pool of `concurrency` workers; outcomes stream
through a bounded queue to one writer that stores them in batches, one
transaction per batch, so memory stays flat in the number of factories and a
crash loses at most the batch in flight. An answer identical to the latest
one for that factory and connector only moves `last_checked_at`.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy import Engine, bindparam, func, select, text, update
from sqlmodel import col

from connectors.base import (
    Connector,
    DropConnector,
    DroppedFile,
    ErrorKind,
    FetchOutcome,
    Topic,
)
from connectors.loader import SIMULATOR_PLACEHOLDER, build_connector
from connectors.settings import ConnectorSettings
from monitor.clock import now_utc
from monitor.config import LoadedConfig
from monitor.db import session_scope
from monitor.errors import BadInput
from monitor.evaluation import EvaluationSummary, evaluate_register, measures_in_force
from monitor.models import (
    ConnectorHealth,
    ConsumedFile,
    DesignationStatus,
    Factory,
    Observation,
    SweepRun,
)
from monitor.registry import find_factory
from monitor.sqltypes import UTCDateTime

if TYPE_CHECKING:
    from monitor.alerts.outbox import Outbox

log = structlog.get_logger("sfm.sweep")

ProgressCallback = Callable[[str], None]


@dataclass
class ConnectorTally:
    topic: str
    found: int = 0
    not_found: int = 0
    errors: int = 0
    changed: int = 0  # outcomes that added a history row
    error_kinds: Counter[str] = field(default_factory=Counter)
    files_read: int = 0
    files_rejected: int = 0
    unmatched_codes: int = 0  # rows about credit codes not in the register

    def count(self, outcome: FetchOutcome) -> None:
        if outcome.kind == "found":
            self.found += 1
        elif outcome.kind == "not_found":
            self.not_found += 1
        else:
            self.errors += 1
            self.error_kinds[str(outcome.error_kind)] += 1

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "topic": self.topic,
            "found": self.found,
            "not_found": self.not_found,
            "errors": self.errors,
            "changed": self.changed,
        }
        if self.error_kinds:
            data["error_kinds"] = dict(self.error_kinds)
        if self.files_read or self.files_rejected:
            data.update(
                files_read=self.files_read,
                files_rejected=self.files_rejected,
                unmatched_codes=self.unmatched_codes,
            )
        return data


@dataclass
class SweepSummary:
    run_id: int
    factories: int
    connectors: dict[str, ConnectorTally]
    duration_s: float = 0.0
    evaluation: EvaluationSummary | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "factories": self.factories,
            "duration_s": round(self.duration_s, 3),
            "connectors": {name: tally.as_json() for name, tally in self.connectors.items()},
            "evaluation": self.evaluation.as_json() if self.evaluation else None,
        }


# ---------------------------------------------------------------- storage


def _latest(engine: Engine, connector: str) -> dict[int, tuple[int | None, str]]:
    """factory id → (id, payload hash) of the connector's latest observation of it."""
    newest = (
        select(col(Observation.factory_id), func.max(col(Observation.id)).label("id"))
        .where(col(Observation.connector) == connector)
        .group_by(col(Observation.factory_id))
        .subquery()
    )
    query = select(
        col(Observation.factory_id), col(Observation.id), col(Observation.payload_hash)
    ).join(
        newest,
        col(Observation.id) == newest.c.id,
    )
    with engine.connect() as connection:
        return {
            factory_id: (observation_id, digest)
            for factory_id, observation_id, digest in connection.execute(query)
            if observation_id is not None
        }


_OBSERVATION_COLUMNS = (
    "factory_id",
    "connector",
    "topic",
    "outcome",
    "error_kind",
    "error_detail",
    "payload_hash",
    "payload",
    "records",
    "fetched_at",
    "last_checked_at",
    "sweep_id",
)
_INSERT_OBSERVATION = text(
    f"INSERT INTO observation ({', '.join(_OBSERVATION_COLUMNS)})"
    f" VALUES ({', '.join(':' + name for name in _OBSERVATION_COLUMNS)})"
).bindparams(
    # the same UTC handling as the mapped columns (naive UTC on SQLite)
    bindparam("fetched_at", type_=UTCDateTime()),
    bindparam("last_checked_at", type_=UTCDateTime()),
)


class _DriverInsert:
    """The observation INSERT compiled once, its rows handed to the driver's executemany.

    Rows go in as pre-serialised JSON with their timestamps converted here:
    SQLAlchemy's per-row JSON and parameter processing cost more than the
    insert itself, and more than the HTTP requests of a sweep.
    """

    def __init__(self, engine: Engine) -> None:
        compiled = _INSERT_OBSERVATION.compile(dialect=engine.dialect)
        self.sql = str(compiled)
        self.order = compiled.positiontup if compiled.positional else None
        stamp = UTCDateTime().bind_processor(engine.dialect)
        self._stamp: Callable[[Any], Any] = stamp or (lambda value: value)

    def parameters(self, row: dict[str, Any]) -> dict[str, Any] | tuple[Any, ...]:
        row["fetched_at"] = self._stamp(row["fetched_at"])
        row["last_checked_at"] = self._stamp(row["last_checked_at"])
        return row if self.order is None else tuple(row[name] for name in self.order)


class ObservationStore:
    """Writes one connector's outcomes; knows the latest hash per factory to skip repeats."""

    def __init__(
        self, engine: Engine, connector: str, topic: Topic, sweep_id: int, tally: ConnectorTally
    ) -> None:
        self.engine = engine
        self.connector = connector
        self.topic = topic
        self.sweep_id = sweep_id
        self.tally = tally
        self.latest = _latest(engine, connector)
        self._insert = _DriverInsert(engine)

    def write(
        self,
        outcomes: list[tuple[int, FetchOutcome]],
        consumed: ConsumedFile | None = None,
    ) -> None:
        """Store a batch (and the file it came from) in one transaction."""
        now = now_utc()
        unchanged_ids: list[int] = []
        new_rows: list[dict[str, Any] | tuple[Any, ...]] = []
        pending: dict[int, str] = {}
        for factory_id, outcome in outcomes:
            payload_json = outcome.payload_json
            digest = outcome.fingerprint(payload_json)
            previous = self.latest.get(factory_id)
            if previous is not None and previous[1] == digest:
                if previous[0] is not None:
                    unchanged_ids.append(previous[0])
                continue
            pending[factory_id] = digest
            new_rows.append(
                self._insert.parameters(
                    {
                        "factory_id": factory_id,
                        "connector": self.connector,
                        "topic": self.topic.value,
                        "outcome": outcome.kind,
                        "error_kind": outcome.error_kind.value if outcome.error_kind else None,
                        "error_detail": outcome.error_detail,
                        "payload_hash": digest,
                        "payload": payload_json,
                        "records": outcome.records_json,
                        "fetched_at": outcome.fetched_at,
                        "last_checked_at": outcome.fetched_at,
                        "sweep_id": self.sweep_id,
                    }
                )
            )
        with session_scope(self.engine) as session:
            if unchanged_ids:
                session.execute(
                    update(Observation)
                    .where(col(Observation.id).in_(unchanged_ids))
                    .values(last_checked_at=now)
                )
            if new_rows:
                session.connection().exec_driver_sql(self._insert.sql, new_rows)
            self._update_health(session, [outcome for _, outcome in outcomes], now)
            if consumed is not None:
                session.add(consumed)
        # Only after the commit: a rolled-back batch must not be taken as stored. The new
        # rows' ids are not needed: they were checked just now, so a repeat of the same
        # answer later in this sweep has nothing to move.
        for factory_id, digest in pending.items():
            self.latest[factory_id] = (None, digest)
        self.tally.changed += len(new_rows)

    def _health(self, session: Any) -> ConnectorHealth:
        health = session.get(ConnectorHealth, self.connector)
        if health is None:
            health = ConnectorHealth(
                connector=self.connector, topic=self.topic.value, consecutive_failures=0
            )
            session.add(health)
        return health

    def _update_health(self, session: Any, outcomes: Iterable[FetchOutcome], now: datetime) -> None:
        # Worked out first and set once: attribute writes on the mapped row cost
        # more per outcome than everything else the writer does for it.
        last_success: datetime | None = None
        last_error: FetchOutcome | None = None
        errors_since_success = 0
        for outcome in outcomes:
            if outcome.kind == "error":
                errors_since_success += 1
                last_error = outcome
            else:
                errors_since_success = 0
                last_success = outcome.fetched_at
        health = self._health(session)
        if last_success is None:
            health.consecutive_failures += errors_since_success
        else:
            health.consecutive_failures = errors_since_success
            health.last_success_at = last_success
        if last_error is not None:
            health.last_error_at = last_error.fetched_at
            health.last_error_kind = last_error.error_kind.value if last_error.error_kind else None
            health.last_error_detail = f"{last_error.credit_code}: {last_error.error_detail}"
        health.updated_at = now

    def record_error(self, kind: str, detail: str, consumed: ConsumedFile | None = None) -> None:
        """A failure of the source itself (a bad file, a missing folder), not of one factory."""
        with session_scope(self.engine) as session:
            if consumed is not None:
                session.add(consumed)
            health = self._health(session)
            now = now_utc()
            health.consecutive_failures += 1
            health.last_error_at = now
            health.last_error_kind = kind
            health.last_error_detail = detail
            health.updated_at = now


# ---------------------------------------------------------------- running connectors


async def _run_per_factory(
    connector: Connector,
    settings: ConnectorSettings,
    factories: list[tuple[int, str]],
    store: ObservationStore,
    batch_size: int,
    progress: ProgressCallback | None,
) -> None:
    codes: asyncio.Queue[tuple[int, str]] = asyncio.Queue()
    for item in factories:
        codes.put_nowait(item)
    results: asyncio.Queue[tuple[int, FetchOutcome] | None] = asyncio.Queue(maxsize=batch_size * 2)

    async def worker() -> None:
        while True:
            try:
                factory_id, code = codes.get_nowait()
            except asyncio.QueueEmpty:
                return
            try:
                outcome = await connector.fetch(code)
            except Exception as exc:  # a connector bug must not abort the sweep
                log.exception("connector raised", connector=connector.name, credit_code=code)
                outcome = FetchOutcome.error(
                    connector.name,
                    code,
                    ErrorKind.INTERNAL,
                    f"{type(exc).__name__}: {exc}",
                    now_utc(),
                )
            await results.put((factory_id, outcome))

    async def writer() -> None:
        batch: list[tuple[int, FetchOutcome]] = []
        flushed = time.monotonic()
        while True:
            item = await results.get()
            if item is not None:
                batch.append(item)
                store.tally.count(item[1])
                if progress:
                    progress(connector.name)
            due = time.monotonic() - flushed > 2.0
            if batch and (item is None or len(batch) >= batch_size or due):
                await asyncio.to_thread(store.write, batch)
                batch, flushed = [], time.monotonic()
            if item is None:
                return

    workers = min(settings.concurrency, max(1, len(factories)))
    try:
        # A task group, so that a writer that fails (the database went away) stops the
        # workers too, instead of leaving them blocked on a full queue for ever.
        async with asyncio.TaskGroup() as group:
            group.create_task(writer())
            fetching = [group.create_task(worker()) for _ in range(workers)]
            await asyncio.gather(*fetching)
            await results.put(None)
    except ExceptionGroup as failed:
        raise failed.exceptions[0] from failed


async def _run_drop(
    connector: DropConnector,
    factories: list[tuple[int, str]],
    store: ObservationStore,
    progress: ProgressCallback | None,
) -> None:
    ids = {code: factory_id for factory_id, code in factories}
    with store.engine.connect() as connection:
        consumed = {
            row[0]
            for row in connection.execute(
                select(col(ConsumedFile.content_hash)).where(
                    col(ConsumedFile.connector) == connector.name
                )
            )
        }
    try:
        async for dropped in connector.new_files(consumed):
            await _store_dropped(connector.name, dropped, ids, store, progress)
    except OSError as exc:
        log.error("drop folder unreadable", connector=connector.name, detail=str(exc))
        store.tally.errors += 1
        store.tally.error_kinds["connection"] += 1
        await asyncio.to_thread(store.record_error, "connection", str(exc))


async def _store_dropped(
    connector: str,
    dropped: DroppedFile,
    ids: dict[str, int],
    store: ObservationStore,
    progress: ProgressCallback | None,
) -> None:
    if dropped.error is not None:
        log.warning("file rejected", connector=connector, file=dropped.name, detail=dropped.error)
        store.tally.files_rejected += 1
        store.tally.errors += 1
        store.tally.error_kinds["bad_file"] += 1
        rejected = ConsumedFile(
            connector=connector,
            content_hash=dropped.content_hash,
            file_name=dropped.name,
            status="rejected",
            error=dropped.error,
            rows=dropped.rows,
        )
        await asyncio.to_thread(store.record_error, "bad_file", dropped.error, rejected)
        return
    matched = [(ids[o.credit_code], o) for o in dropped.outcomes if o.credit_code in ids]
    store.tally.unmatched_codes += len(dropped.outcomes) - len(matched)
    store.tally.files_read += 1
    for _, outcome in matched:
        store.tally.count(outcome)
        if progress:
            progress(connector)
    consumed = ConsumedFile(
        connector=connector,
        content_hash=dropped.content_hash,
        file_name=dropped.name,
        status="consumed",
        rows=dropped.rows,
    )
    await asyncio.to_thread(store.write, matched, consumed)


# ---------------------------------------------------------------- the sweep


def selected_connectors(config: LoadedConfig, topic: str | None) -> list[ConnectorSettings]:
    chosen = [c for c in config.settings.connectors if c.enabled]
    if topic is not None:
        try:
            wanted = Topic(topic)
        except ValueError as exc:
            raise BadInput(
                f"--topic: unknown topic {topic!r} (registration, credit or safety)"
            ) from exc
        chosen = [c for c in chosen if c.topic == wanted]
    return chosen


def _factories(engine: Engine, code: str | None, accept: list[str]) -> list[tuple[int, str]]:
    with session_scope(engine) as session:
        if code is not None:
            factory = find_factory(session, code, accept_codes=accept)
            assert factory.id is not None
            return [(factory.id, factory.credit_code)]
        rows = session.execute(
            select(col(Factory.id), col(Factory.credit_code))
            .where(col(Factory.status) == DesignationStatus.ACTIVE.value)
            .order_by(col(Factory.id))
        ).all()
        return [(row[0], row[1]) for row in rows]


def _begin_run(engine: Engine, scope: dict[str, Any]) -> int:
    with session_scope(engine) as session:
        # A run still `running` was cut short (the process died): say so.
        session.execute(
            update(SweepRun).where(col(SweepRun.status) == "running").values(status="interrupted")
        )
        run = SweepRun(scope=scope)
        session.add(run)
        session.flush()
        assert run.id is not None
        return run.id


def _finish_run(engine: Engine, run_id: int, summary: SweepSummary) -> None:
    with session_scope(engine) as session:
        run = session.get(SweepRun, run_id)
        assert run is not None
        run.status = "completed"
        run.finished_at = now_utc()
        run.summary = summary.as_json()


def _start_simulator(config: LoadedConfig, stack: ExitStack) -> str:
    from connectors.simulator import Behaviour, RunningSimulator, Simulator, load_upstream

    settings = config.settings.simulator
    data_path = config.resolve(settings.data)
    try:
        data = load_upstream(data_path)
    except (OSError, ValueError) as exc:
        raise BadInput(f"simulator data {data_path}: {exc}") from exc
    behaviour = Behaviour(
        latency_ms=settings.latency_ms,
        error_rate=settings.error_rate,
        rate_limit_per_s=settings.rate_limit_per_s,
        synthesize=settings.synthesize,
    )
    running = stack.enter_context(RunningSimulator(Simulator(data, behaviour)))
    log.info("simulator started", url=running.base_url)
    return running.base_url


async def run_sweep(
    engine: Engine,
    config: LoadedConfig,
    *,
    factory_code: str | None = None,
    topic: str | None = None,
    progress: ProgressCallback | None = None,
    on_start: Callable[[int, int], None] | None = None,
    outbox: Outbox | None = None,
) -> SweepSummary:
    """Ask every selected connector about every active factory (or one); store the outcomes."""
    settings_list = selected_connectors(config, topic)
    factories = _factories(engine, factory_code, config.settings.codes.accept)
    started = time.monotonic()
    run_id = _begin_run(engine, {"factory": factory_code, "topic": topic})
    tallies = {c.name: ConnectorTally(topic=c.topic.value) for c in settings_list}
    summary = SweepSummary(run_id=run_id, factories=len(factories), connectors=tallies)
    if on_start:
        per_factory = sum(1 for c in settings_list if c.kind != "files")
        on_start(len(factories) * per_factory, len(settings_list))

    with ExitStack() as stack:
        simulator_url = (
            _start_simulator(config, stack)
            if any(SIMULATOR_PLACEHOLDER in (c.url or "") for c in settings_list)
            else None
        )
        status_map = measures_in_force(config).policy.status_map
        connectors = [
            build_connector(
                c,
                status_map=status_map,
                base_dir=config.directory,
                simulator_url=simulator_url,
            )
            for c in settings_list
        ]
        try:
            jobs = []
            for settings, connector in zip(settings_list, connectors, strict=True):
                store = await asyncio.to_thread(
                    ObservationStore,
                    engine,
                    settings.name,
                    settings.topic,
                    run_id,
                    tallies[settings.name],
                )
                if isinstance(connector, DropConnector):
                    jobs.append(_run_drop(connector, factories, store, progress))
                else:
                    jobs.append(
                        _run_per_factory(
                            connector,
                            settings,
                            factories,
                            store,
                            config.settings.sweep.batch_size,
                            progress,
                        )
                    )
            await asyncio.gather(*jobs)
        finally:
            for connector in connectors:
                await connector.aclose()

    summary.duration_s = time.monotonic() - started
    # The rules run on what is now stored, after every sweep.
    summary.evaluation = await asyncio.to_thread(
        lambda: evaluate_register(engine, config, outbox=outbox)
    )
    _finish_run(engine, run_id, summary)
    log.info("sweep finished", **summary.as_json())
    return summary
