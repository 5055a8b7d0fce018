"""The recorder: turns a sweep's answers into outcomes and stores them, off the event loop.

A sweep's event loop asks providers; everything else it would do per answer
(parse the JSON, map and validate the records, serialise and hash them, write
them) competes with it for one interpreter. On this project's 2-core machines,
10,000 factories at 64 requests in flight, 20 ms each: recording on a thread,
the sweep's process spent 3.1-3.5 s of CPU and the sweep took 4.1-4.4 s;
recording in a process of its own, 2.3-2.5 s and 3.8-3.9 s (issue 3). So a
large sweep ships each answer's status and body to a recorder process in
batches, and gets back what was counted.

`Recorder` is the work itself; `InlineRecorder` runs it on a worker thread of
the sweep's own process (small sweeps), `ProcessRecorder`
in a spawned process that rebuilds the connectors and an engine from their
settings. Both give the same rows: the tests run each.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from sqlalchemy import Engine

from connectors.base import Answer, AskingConnector, Connector, FetchOutcome
from connectors.settings import ConnectorSettings
from monitor.config import LoggingSettings
from monitor.observations import ConnectorTally, ObservationStore

Shipment = list[tuple[int, Answer | FetchOutcome]]  # (factory id, what its fetch gave)


class Recorder:
    """Understands answers and stores the outcomes of one sweep, connector by connector."""

    def __init__(self, engine: Engine, run_id: int, connectors: Sequence[Connector]) -> None:
        # Looked up once: a check against a runtime protocol costs ~20 µs, per answer
        # as much as the rest of understanding it.
        self.understanders = {
            connector.name: connector.understand
            for connector in connectors
            if isinstance(connector, AskingConnector)
        }
        self.stores = {
            connector.name: ObservationStore(engine, connector.name, connector.topic, run_id)
            for connector in connectors
        }

    def record(self, connector_name: str, shipment: Shipment) -> ConnectorTally:
        """Store one batch in one transaction; return what it counted."""
        store = self.stores[connector_name]
        tally = ConnectorTally(topic=store.topic.value)
        understand = self.understanders.get(connector_name)
        outcomes: list[tuple[int, FetchOutcome]] = []
        for factory_id, item in shipment:
            if isinstance(item, Answer):
                assert understand is not None, f"{connector_name} gave an answer it cannot read"
                item = understand(item)
            tally.count(item)
            outcomes.append((factory_id, item))
        tally.changed = store.write(outcomes)
        return tally


class RecorderHost(Protocol):
    """Runs a recorder: batches are recorded one at a time, in the order they were sent."""

    # How many batches may wait: enough to cover a recorder process's start (about
    # 0.6 s, ~1,800 answers at full speed) without stalling the sweep; bounded, so
    # memory stays flat.
    max_waiting: int
    where: str  # "thread" or "process", for the sweep's summary

    def send(self, connector_name: str, shipment: Shipment) -> asyncio.Future[ConnectorTally]:
        """Queue one batch; the future gives what it counted once it is stored."""
        ...

    def close(self) -> None: ...


class InlineRecorder:
    """The recorder on a thread of this process."""

    max_waiting = 2
    where = "thread"

    def __init__(self, recorder: Recorder) -> None:
        self._recorder = recorder
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sfm-recorder")

    def send(self, connector_name: str, shipment: Shipment) -> asyncio.Future[ConnectorTally]:
        loop = asyncio.get_running_loop()
        return loop.run_in_executor(self._thread, self._recorder.record, connector_name, shipment)

    def close(self) -> None:
        self._thread.shutdown(wait=True, cancel_futures=True)


class RecorderProcessDied(RuntimeError):
    pass


@dataclass(frozen=True)
class RecorderSetup:
    """What a recorder process needs to rebuild the sweep's connectors and database."""

    database_url: str
    run_id: int
    connectors: list[ConnectorSettings]
    status_map: Mapping[str, str]
    base_dir: Path
    simulator_url: str | None
    logging: LoggingSettings | None


class ProcessRecorder:
    """The recorder in a spawned process."""

    max_waiting = 16
    where = "process"

    def __init__(self, setup: RecorderSetup) -> None:
        # spawn, not fork: the sweep may run beside a scheduler's or a simulator's
        # threads, and a forked child inherits whatever locks they held.
        self._pool = ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_in_child,
            initargs=(setup,),
        )
        # Start it now, while the first requests are in flight, not at the first batch.
        self._pool.submit(os.getpid)

    def send(self, connector_name: str, shipment: Shipment) -> asyncio.Future[ConnectorTally]:
        # Submitted at once, so batches reach the process in the order they were sent.
        try:
            submitted = self._pool.submit(_record_in_child, connector_name, shipment)
        except BrokenProcessPool as exc:
            submitted = Future()
            submitted.set_exception(exc)
        return asyncio.ensure_future(self._recorded(asyncio.wrap_future(submitted)))

    @staticmethod
    async def _recorded(batch: asyncio.Future[ConnectorTally]) -> ConnectorTally:
        try:
            return await batch
        except BrokenProcessPool as exc:
            raise RecorderProcessDied(
                "the sweep's recorder process ended unexpectedly; what it had not stored "
                "yet is lost, and the next sweep asks again"
            ) from exc

    def close(self) -> None:
        # Every batch sent has been awaited by now (or the sweep failed): the process
        # can end on its own time, not the sweep's.
        self._pool.shutdown(wait=False, cancel_futures=True)


# ---------------------------------------------------------------- inside the recorder process

_recorder: Recorder | None = None


def _start_in_child(setup: RecorderSetup) -> None:
    global _recorder
    from connectors.loader import build_connector
    from monitor.db import make_engine
    from monitor.logs import configure_logging

    if setup.logging is not None:
        configure_logging(setup.logging)
    _exit_with_parent()
    connectors = [
        build_connector(
            settings,
            status_map=setup.status_map,
            base_dir=setup.base_dir,
            simulator_url=setup.simulator_url,
        )
        for settings in setup.connectors
    ]
    per_factory = [connector for connector in connectors if isinstance(connector, Connector)]
    _recorder = Recorder(make_engine(setup.database_url), setup.run_id, per_factory)


def _exit_with_parent() -> None:
    """A sweep killed outright must not leave its recorder waiting for batches for ever.

    The batch being written when that happens is one transaction: exiting
    mid-way rolls it back, as a crash of the sweep itself would.
    """
    parent = multiprocessing.parent_process()
    if parent is None:  # pragma: no cover - always set in a spawned child
        return

    def watch() -> None:
        parent.join()
        os._exit(1)

    threading.Thread(target=watch, name="sfm-recorder-watch", daemon=True).start()


def _record_in_child(connector_name: str, shipment: Shipment) -> ConnectorTally:
    assert _recorder is not None, "the recorder process was not started"
    return _recorder.record(connector_name, shipment)
