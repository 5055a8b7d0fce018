"""/sweeps: staff's sweeps (`sfm check`), run as jobs beside the scheduled ones.

`POST /sweeps {"factory", "topic"}` starts one and answers at once (202) with its record;
`GET /sweeps/{id}` says how far it got and, once it is done, its result with the texts
`sfm check` prints, in the caller's language, so the client renders without importing
the sweep. A staff sweep takes the lock the scheduled sweeps take (SWEEPING) when it is
asked for: while one runs a second is refused (exit 3). It runs on a thread of its own,
never on one of the API's pool threads, so every other request is answered meanwhile.

In the daemon its dispatch job sends the alerts a sweep raises, and a sweep is refused
while the daemon's jobs are paused (the database away), once it no longer leads, or while
it stops. Without a daemon (in-process), the sweep holds the daemon's leader lock for its
duration, as any sweep outside the daemon must, and sends what it raised before its result
is final.

The records live in memory, the last KEEP of them: they are for following a sweep; the
database's sweep_run is its history.
"""

from __future__ import annotations

import contextvars
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import structlog

from monitor.api.routes import Call, Caller, Routes, error_reply
from monitor.errors import BadInput, NotFound, Refused, SfmError, SweepIncomplete
from monitor.i18n import Message, language, t

if TYPE_CHECKING:
    from monitor.daemon.jobs import SweepResult
    from monitor.daemon.leader import LeaderLock
    from monitor.runtime import Runtime

log = structlog.get_logger("sfm.api")
routes = Routes()

KEEP = 20  # records remembered, the running one included
RUNNING, DONE, FAILED = "running", "done", "failed"


@dataclass
class StaffSweep:
    """One sweep staff asked for: how far it got, and how it ended."""

    id: str
    factory: str | None
    topic: str | None
    uid: int
    started_at: datetime
    in_daemon: bool = True  # else in the process that asked for it (no daemon runs)
    state: str = RUNNING
    done: int = 0  # answers stored
    total: int | None = None  # answers to ask for, once the factories are counted
    finished_at: datetime | None = None
    result: SweepResult | None = None
    error: Exception | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def started(self, total: int, _connectors: int) -> None:
        with self._lock:
            self.total = total

    def advance(self, _connector: str) -> None:
        with self._lock:
            self.done += 1

    def as_json(self) -> dict[str, Any]:
        """The record as the caller reads it, texts in the caller's language."""
        with self._lock:
            state, done, total = self.state, self.done, self.total
            result, error = self.result, self.error
        problem: dict[str, Any] | None = None
        if error is not None:
            problem = _error_json(error)
        elif state == FAILED:  # its thread ended without a result (not an Exception)
            problem = _error_json(SfmError(t("error.aborted")))
        elif result is not None and result.problems():
            problem = _error_json(SweepIncomplete(_joined(result.problems())))
        return {
            "id": self.id,
            "state": state,
            "in_daemon": self.in_daemon,
            "factory": self.factory,
            "topic": self.topic,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "progress": {"done": done, "total": total},
            "result": result.as_json() if result is not None else None,
            "shown": shown(result) if result is not None else None,
            "error": problem,
        }


def _joined(problems: list[str]) -> str:
    return "；".join(problems) if language() == "zh" else "; ".join(problems)


def _error_json(error: Exception) -> dict[str, Any]:
    """An error as the API reports one: stable code, exit code, message, details."""
    if isinstance(error, SfmError):
        _status, reply = error_reply(error)
    else:
        from monitor.errors import one_line

        _status, reply = error_reply(SfmError(one_line(error)), "unexpected")
    problem: dict[str, Any] = reply["error"]
    return problem


def shown(result: SweepResult) -> dict[str, Any]:
    """What `sfm check` prints: the table of sources (title, columns, rows) and the lines
    under it, in the reader's language."""
    summary, delivery = result.summary, result.delivery
    keys = ("connector", "topic", "found", "not_found", "errors", "changed")
    rows = []
    lines = []
    for name, tally in summary.connectors.items():
        errors = str(tally.errors)
        if tally.error_kinds:
            errors += (
                "（"
                + "，".join(f"{t(f'error_kind.{k}')} {n}" for k, n in tally.error_kinds.items())
                + "）"
            )
        rows.append(
            [
                name,
                t(f"topic.{tally.topic}"),
                str(tally.found),
                str(tally.not_found),
                errors,
                str(tally.changed),
            ]
        )
        # what an answer or a file held that was not taken as the factory's evidence
        if tally.other_codes_dropped or tally.codes_folded or tally.rows_rejected:
            lines.append(
                t(
                    "check.set_aside",
                    connector=name,
                    other_codes_dropped=tally.other_codes_dropped,
                    codes_folded=tally.codes_folded,
                    rows_rejected=tally.rows_rejected,
                )
            )
    if summary.evaluation is not None:
        lines.append(t("check.flags", **summary.evaluation.as_json()))
    if delivery is not None:
        lines.append(
            t(
                "alerts.dispatched",
                sent=delivery.sent,
                retrying=delivery.retrying,
                failed=delivery.failed,
            )
        )
    return {
        "title": t("check.title", factories=summary.factories, seconds=f"{summary.duration_s:.1f}"),
        "columns": [
            {
                "header": t(f"check.col.{key}"),
                "justify": "left" if key in ("connector", "topic") else "right",
            }
            for key in keys
        ],
        "rows": rows,
        "lines": lines,
    }


class StaffSweeps:
    """The staff sweeps of one runtime (the daemon's, or a CLI's without one): started on
    threads of their own, remembered (the last KEEP) for the callers who follow them."""

    def __init__(self, runtime: Runtime, keep: int = KEEP) -> None:
        self.runtime = runtime
        self.keep = keep
        self._records: OrderedDict[str, StaffSweep] = OrderedDict()
        self._threads: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()  # without a daemon: set when this process closes

    def start(self, caller: Caller, factory: str | None, topic: str | None) -> StaffSweep:
        """Claim the sweep lock (refused while a sweep runs) and start the sweep on its own
        thread; its record, at once."""
        from monitor.clock import now_utc
        from monitor.sweep.run import SWEEPING

        daemon = self.runtime.daemon
        if daemon is not None:
            self._require_leading(daemon)
        self._validate(factory, topic)
        if not SWEEPING.acquire(blocking=False):
            raise Refused(Message("sweep.busy"))
        leader: LeaderLock | None = None
        record = StaffSweep(
            secrets.token_hex(4), factory, topic, caller.uid, now_utc(), daemon is not None
        )
        try:
            if daemon is None:
                leader = self._lead_alone()
            # the caller's language and log context (uid) go with the sweep
            context = contextvars.copy_context()
            thread = threading.Thread(
                target=context.run,
                args=(self._run, record, leader),
                name=f"sfm-sweep-{record.id}",
                daemon=True,
            )
            with self._lock:
                self._remember(record, thread)
            thread.start()
        except BaseException:  # not started (no thread to be had): nothing claimed stays so
            with self._lock:
                self._records.pop(record.id, None)
                self._threads.pop(record.id, None)
            if leader is not None:
                leader.release()
            SWEEPING.release()
            raise
        log.info("staff sweep started", sweep=record.id, factory=factory, topic=topic)
        return record

    def get(self, sweep_id: str) -> StaffSweep:
        with self._lock:
            record = self._records.get(sweep_id)
        if record is None:
            raise NotFound(Message("sweep.unknown", id=sweep_id, keep=self.keep))
        return record

    def recent(self) -> list[StaffSweep]:
        """Newest first."""
        with self._lock:
            return list(reversed(self._records.values()))

    def close(self, timeout_s: float = 30.0) -> None:
        """Stop the sweeps still running (what they asked is stored, the run is recorded
        interrupted) and wait for them, before the lead or the database goes. In the
        daemon its own stop (SIGTERM) stops them first."""
        self._stop.set()
        with self._lock:
            threads = list(self._threads.values())
        for thread in threads:
            thread.join(timeout_s)

    # ------------------------------------------------------------ inside

    def _require_leading(self, daemon: Any) -> None:
        """The daemon sweeps only while it leads and its jobs run: refused otherwise."""
        if daemon.lost_lead.is_set():
            raise Refused(Message("sweep.daemon_deposed"))
        if daemon.stop.is_set():
            raise Refused(Message("sweep.daemon_stopping"))
        if daemon.paused.is_set():
            raise Refused(Message("sweep.daemon_paused"))

    def _validate(self, factory: str | None, topic: str | None) -> None:
        """Bad input is refused before anything starts (exit 2, or 4 for no such factory)."""
        from monitor.register.store import find_factory
        from monitor.storage.db import session_scope
        from monitor.sweep.run import selected_connectors

        selected_connectors(self.runtime.config, topic)
        if factory is not None:
            with session_scope(self.runtime.engine) as session:
                find_factory(session, factory, accept_codes=self.runtime.accept_codes)

    def _lead_alone(self) -> LeaderLock:
        """Without a daemon, the daemon's leader lock, held for the sweep: refused (exit 3)
        while a daemon or another `sfm check` holds it, so two sweeps never interleave."""
        from monitor.daemon.leader import LeaderLock, refusal

        lock = LeaderLock(self.runtime.engine)
        if not lock.try_acquire():
            raise refusal(self.runtime.engine, "sweep")
        return lock

    def _remember(self, record: StaffSweep, thread: threading.Thread) -> None:
        self._records[record.id] = record
        self._threads[record.id] = thread
        for old in list(self._records):
            if len(self._records) <= self.keep:
                break
            if self._records[old].state != RUNNING:
                del self._records[old]
                self._threads.pop(old, None)

    def _run(self, record: StaffSweep, leader: LeaderLock | None) -> None:
        """The sweep, on its own thread; SWEEPING (and without a daemon the leader lock)
        claimed by `start`, released here whatever happens."""
        from monitor.clock import now_utc
        from monitor.daemon import jobs
        from monitor.sweep.run import SWEEPING

        daemon = self.runtime.daemon
        result: SweepResult | None = None
        error: Exception | None = None
        try:
            with structlog.contextvars.bound_contextvars(sweep=record.id):
                result = jobs.check(
                    self.runtime,
                    # alone, `sfm check` sends what is due before it ends; in the daemon,
                    # its dispatch job does
                    deliver=daemon is None,
                    topic=record.topic,
                    factory_code=record.factory,
                    stop=daemon.stop if daemon is not None else self._stop,
                    progress=record.advance,
                    on_start=record.started,
                    claimed=True,
                )
        except Exception as exc:  # the record says why; the thread ends
            error = exc
            if isinstance(exc, SfmError):
                log.info("staff sweep refused or failed", sweep=record.id, error=str(exc))
            else:
                log.exception("staff sweep failed", sweep=record.id)
        finally:
            try:
                if leader is not None:
                    leader.release()
            finally:
                SWEEPING.release()
                with record._lock:
                    record.result, record.error = result, error
                    record.state = DONE if result is not None else FAILED
                    record.finished_at = now_utc()
                with self._lock:
                    self._threads.pop(record.id, None)
        log.info("staff sweep ended", sweep=record.id, state=record.state)


# ---------------------------------------------------------------- the resource


def _option(call: Call, name: str) -> str | None:
    value = call.field(name, required=False)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise BadInput(Message("api.bad_json"))
    return value


@routes.post("/sweeps", status=202)
def start_sweep(call: Call) -> dict[str, Any]:
    """Start a sweep now (one factory, one topic, or all); answered at once with its id."""
    record = call.runtime.sweeps.start(
        call.caller, _option(call, "factory"), _option(call, "topic")
    )
    return record.as_json()


@routes.get("/sweeps")
def list_sweeps(call: Call) -> list[dict[str, Any]]:
    """The sweeps staff started lately (since the daemon started), newest first."""
    return [record.as_json() for record in call.runtime.sweeps.recent()]


@routes.get("/sweeps/{id}")
def show_sweep(call: Call) -> dict[str, Any]:
    """A sweep's state (running, done, failed), progress and, once done, its result."""
    return call.runtime.sweeps.get(call.args["id"]).as_json()
