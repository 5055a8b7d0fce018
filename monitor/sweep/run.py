"""Sweeps: run the connectors over the designated factories and keep what they said.

Each connector runs `concurrency` workers that ask about one factory at a time;
their outcomes stream through a bounded queue to one writer that stores them in
batches, each in one transaction (on a worker thread for a network database),
so memory stays flat in the number of factories and a crash loses at most the
batch in flight. What is kept, and when history grows, is
monitor/sweep/observations.py.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy import Engine, select
from sqlmodel import col

from connectors.base import (
    Connector,
    DropConnector,
    DroppedFile,
    ErrorKind,
    FetchOutcome,
    Topic,
)
from connectors.binding import bind_to_code
from connectors.loader import build_connector
from connectors.settings import ConnectorSettings
from connectors.text import visible
from monitor.clock import now_utc
from monitor.config import LoadedConfig
from monitor.errors import BadInput
from monitor.flags.evaluation import EvaluationSummary, evaluate_register
from monitor.register.store import find_factory
from monitor.storage.db import session_scope
from monitor.storage.models import ConsumedFile, Factory
from monitor.sweep.observations import ConnectorTally, ObservationStore
from monitor.sweep.runs import begin_run, finish_run
from monitor.vocabulary import DesignationStatus

if TYPE_CHECKING:
    from monitor.alerts.outbox import Outbox

log = structlog.get_logger("sfm.sweep")

# One sweep at a time in a process: the daemon's scheduled sweeps and a door caller's
# `sfm check` share the database's fingerprints and runs. Across processes the
# daemon's leader lock keeps a direct `sfm check` from sweeping beside it.
SWEEPING = threading.Lock()

ProgressCallback = Callable[[str], None]


@dataclass
class SweepSummary:
    run_id: int
    factories: int
    connectors: dict[str, ConnectorTally]
    duration_s: float = 0.0
    evaluation: EvaluationSummary | None = None
    error: str | None = None  # what stopped the sweep, when something did

    def as_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "factories": self.factories,
            "duration_s": round(self.duration_s, 3),
            "connectors": {name: tally.as_json() for name, tally in self.connectors.items()},
            "evaluation": self.evaluation.as_json() if self.evaluation else None,
            **({"error": self.error} if self.error else {}),
        }


class _SweepCollector:
    """The cyclic collector's young generation is walked every 20,000 new objects, not
    700, while any sweep fetches.

    A sweep keeps about 15 tracked objects per answer (the outcome, its records, the
    parsed payload) until its batch is stored. At Python's 700 the collector ran about
    300 times in a sweep of 10,000 answers, walked each answer two or three times as
    it was promoted, and ran full collections over the whole heap: with its batches
    written on the loop, a latency-bound sweep took 1.15× the bare client's time, 1.08×
    at 20,000. Most answers are stored and freed before the next collection; the
    daemon's memory after a sweep of 3 × 10,000 was the same (233–243 MB either way).
    A client's process, which walks every 50,000 already (monitor/cli), keeps that.
    """

    YOUNG = 20_000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sweeps = 0
        self._saved: tuple[int, ...] = gc.get_threshold()
        self._set: tuple[int, ...] = self._saved

    @contextmanager
    def raised(self) -> Iterator[None]:
        with self._lock:
            if self._sweeps == 0:
                self._saved = gc.get_threshold()
                young, *older = self._saved
                # 0 is the collector switched off by its threshold: left so
                self._set = (max(young, self.YOUNG) if young else 0, *older)
                gc.set_threshold(*self._set)
            self._sweeps += 1
        try:
            yield
        finally:
            with self._lock:
                self._sweeps -= 1
                # a threshold someone else set meanwhile is theirs to keep
                if self._sweeps == 0 and gc.get_threshold() == self._set:
                    gc.set_threshold(*self._saved)


_COLLECTOR = _SweepCollector()


# ---------------------------------------------------------------- running connectors


async def _run_per_factory(
    connector: Connector,
    settings: ConnectorSettings,
    factories: list[tuple[int, str]],
    store: ObservationStore,
    tally: ConnectorTally,
    batch_size: int,
    progress: ProgressCallback | None,
    stop: threading.Event | None = None,
) -> None:
    # this task's own context: every log line below names the connector
    structlog.contextvars.bind_contextvars(connector=connector.name)
    codes: asyncio.Queue[tuple[int, str]] = asyncio.Queue()
    for item in factories:
        codes.put_nowait(item)
    results: asyncio.Queue[tuple[int, FetchOutcome] | None] = asyncio.Queue(maxsize=batch_size * 2)

    async def worker() -> None:
        while stop is None or not stop.is_set():  # on a stop, what is asked is still stored
            try:
                factory_id, code = codes.get_nowait()
            except asyncio.QueueEmpty:
                return
            try:
                # a plugin's records are bound to the code asked as the HTTP connector's are
                outcome = bind_to_code(await connector.fetch(code), code)
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
                batch.append(item)  # counted in the tally as it is stored
                if progress:
                    progress(connector.name)
            due = time.monotonic() - flushed > 2.0
            if batch and (item is None or len(batch) >= batch_size or due):
                # On a thread, a SQLite write (all CPU) only takes turns with this loop
                # for the GIL, and each turn holds up the loop's answers by up to the
                # switch interval (5 ms): a latency-bound sweep of 10,000 factories took
                # 1.20× the bare client's time so, 1.07× written here (a batch of 200 is
                # about 7 ms). Never a wait on the loop, though: with the lock held by
                # another writer, answers in flight would time out while it waited. That
                # write, and a network database's (mostly waiting), go to a thread.
                if not (store.embedded and store.write_unless_locked(batch)):
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
    tally: ConnectorTally,
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
            await _store_dropped(connector.name, dropped, ids, store, tally, progress)
    except OSError as exc:
        log.error("drop folder unreadable", connector=connector.name, detail=str(exc))
        tally.errors += 1
        tally.error_kinds["connection"] += 1
        await asyncio.to_thread(store.record_error, "connection", str(exc))


async def _store_dropped(
    connector: str,
    dropped: DroppedFile,
    ids: dict[str, int],
    store: ObservationStore,
    tally: ConnectorTally,
    progress: ProgressCallback | None,
) -> None:
    if dropped.error is not None:
        error = visible(dropped.error)  # a reader's message may quote a hostile cell
        log.warning("file rejected", connector=connector, file=dropped.name, detail=error)
        tally.files_rejected += 1
        tally.errors += 1
        tally.error_kinds["bad_file"] += 1
        rejected = ConsumedFile(
            connector=connector,
            content_hash=dropped.content_hash,
            file_name=dropped.name,
            status="rejected",
            error=error,
            rows=dropped.rows,
        )
        await asyncio.to_thread(store.record_error, "bad_file", error, rejected)
        return
    matched = [(ids[o.credit_code], o) for o in dropped.outcomes if o.credit_code in ids]
    tally.unmatched_codes += len(dropped.outcomes) - len(matched)
    tally.files_read += 1
    tally.rows_rejected += len(dropped.rejected_rows)
    if progress:
        for _ in matched:
            progress(connector)
    consumed = ConsumedFile(
        connector=connector,
        content_hash=dropped.content_hash,
        file_name=dropped.name,
        status="consumed",
        # the file is read; what of it was attached to no factory is said here
        error=_rejected_rows_note(dropped.rejected_rows),
        rows=dropped.rows,
    )
    await asyncio.to_thread(store.write, matched, consumed)


_NOTED_ROWS = 20  # rejected rows named in a consumed file's note; the rest are counted


def _rejected_rows_note(rejected: tuple[str, ...]) -> str | None:
    if not rejected:
        return None
    note = "; ".join(rejected[:_NOTED_ROWS])
    if len(rejected) > _NOTED_ROWS:
        note += f"; and {len(rejected) - _NOTED_ROWS} more rows"
    return note


# ---------------------------------------------------------------- the sweep


async def _sweep_connectors(
    settings_list: list[ConnectorSettings],
    connectors: list[Connector | DropConnector],
    factories: list[tuple[int, str]],
    engine: Engine,
    run_id: int,
    tallies: dict[str, ConnectorTally],
    config: LoadedConfig,
    progress: ProgressCallback | None,
    stop: threading.Event | None,
) -> None:
    """Every connector at once, each through its own store; the connectors are closed."""
    try:
        jobs = []
        for settings, connector in zip(settings_list, connectors, strict=True):
            tally = tallies[settings.name]
            store = await asyncio.to_thread(
                ObservationStore, engine, settings.name, settings.topic, run_id, tally
            )
            if isinstance(connector, DropConnector):
                jobs.append(_run_drop(connector, factories, store, tally, progress))
            else:
                jobs.append(
                    _run_per_factory(
                        connector,
                        settings,
                        factories,
                        store,
                        tally,
                        config.settings.sweep.batch_size,
                        progress,
                        stop,
                    )
                )
        await asyncio.gather(*jobs)
    finally:
        for connector in connectors:
            await connector.aclose()


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


async def run_sweep(
    engine: Engine,
    config: LoadedConfig,
    *,
    factory_code: str | None = None,
    topic: str | None = None,
    progress: ProgressCallback | None = None,
    on_start: Callable[[int, int], None] | None = None,
    outbox: Outbox | None = None,
    stop: threading.Event | None = None,
    simulator_url: str | None = None,
) -> SweepSummary:
    """Ask every selected connector about every active factory (or one); store the outcomes.

    Once `stop` is set no new question is asked; the answers in hand are stored, the
    rules are left for the next sweep, and the run is recorded as `interrupted`.
    Connectors whose url names `{simulator}` reach the one at `simulator_url`."""
    settings_list = selected_connectors(config, topic)
    factories = _factories(engine, factory_code, config.settings.codes.accept)
    # Built before the run is recorded: a connector that cannot be set up changes nothing.
    connectors = [
        build_connector(
            c,
            base_dir=config.directory,
            simulator_url=simulator_url,
            accept_codes=config.settings.codes.accept,
        )
        for c in settings_list
    ]
    started = time.monotonic()
    run_id = begin_run(engine, {"factory": factory_code, "topic": topic})
    tallies = {c.name: ConnectorTally(topic=c.topic.value) for c in settings_list}
    summary = SweepSummary(run_id=run_id, factories=len(factories), connectors=tallies)
    try:
        if on_start:
            asked = sum(1 for c in settings_list if c.kind != "files")
            on_start(len(factories) * asked, len(settings_list))
        with _COLLECTOR.raised():
            await _sweep_connectors(
                settings_list,
                connectors,
                factories,
                engine,
                run_id,
                tallies,
                config,
                progress,
                stop,
            )
        summary.duration_s = time.monotonic() - started
        if stop is not None and stop.is_set():
            finish_run(engine, run_id, summary.as_json(), status="interrupted")
            log.info("sweep stopped", **summary.as_json())
            return summary
        # The rules run on what is now stored, after every sweep.
        only = [factory_id for factory_id, _ in factories] if factory_code else None
        summary.evaluation = await asyncio.to_thread(
            lambda: evaluate_register(engine, config, outbox=outbox, only=only)
        )
        finish_run(engine, run_id, summary.as_json())
    except Exception as exc:
        # Never left `running` by an error (only a kill does that): the run says what
        # stopped it, and what it had stored stays stored.
        summary.duration_s = time.monotonic() - started
        summary.error = visible(f"{type(exc).__name__}: {exc}")[:500]
        log.error("sweep stopped by an error", **summary.as_json())
        try:
            finish_run(engine, run_id, summary.as_json(), status="interrupted")
        except Exception:
            log.exception("the sweep's end could not be recorded", run_id=run_id)
        raise
    log.info("sweep finished", **summary.as_json())
    return summary
