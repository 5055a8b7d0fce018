"""What a sweep keeps of each answer: observation history, connector health, tallies.

An answer identical to the latest one for that factory and connector only
moves `last_checked_at`; a changed one adds a row, so the history shows what
changed when. Each batch is one transaction: a crash loses at most the batch
in flight.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import Engine, bindparam, func, select, text, update
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlmodel import col

from connectors.base import ErrorKind, FetchOutcome, Topic
from connectors.text import visible
from monitor.clock import now_utc
from monitor.config import mask_secrets
from monitor.storage.db import SQLITE_BUSY_TIMEOUT_MS, in_slices, session_scope
from monitor.storage.models import ConnectorHealth, ConsumedFile, Observation
from monitor.storage.sqltypes import UTCDateTime

log = structlog.get_logger("sfm.sweep")

# A database that cannot be reached (or is locked) stops the writer; anything else it
# refuses is about one answer.
_UNREACHABLE = (OperationalError, InterfaceError)


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
    rows_rejected: int = 0  # rows whose credit code fails its check: attached to no factory
    other_codes_dropped: int = 0  # records about another credit code than the one asked
    codes_folded: int = 0  # codes equal to the one asked only after NFKC (full-width)

    def count(self, outcome: FetchOutcome) -> None:
        if outcome.kind == "found":
            self.found += 1
        elif outcome.kind == "not_found":
            self.not_found += 1
        else:
            self.errors += 1
            self.error_kinds[str(outcome.error_kind)] += 1
        self.other_codes_dropped += outcome.other_codes_dropped
        self.codes_folded += outcome.codes_folded

    def add(self, other: ConnectorTally) -> None:
        self.found += other.found
        self.not_found += other.not_found
        self.errors += other.errors
        self.changed += other.changed
        self.error_kinds.update(other.error_kinds)
        self.files_read += other.files_read
        self.files_rejected += other.files_rejected
        self.unmatched_codes += other.unmatched_codes
        self.rows_rejected += other.rows_rejected
        self.other_codes_dropped += other.other_codes_dropped
        self.codes_folded += other.codes_folded

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
        for name in ("rows_rejected", "other_codes_dropped", "codes_folded"):
            if getattr(self, name):
                data[name] = getattr(self, name)
        return data


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


@dataclass
class _Prepared:
    """One outcome ready to store: its history row, unless it repeats the latest answer."""

    factory_id: int
    outcome: FetchOutcome
    digest: str
    row: dict[str, Any]


class ObservationStore:
    """Writes one connector's outcomes; knows the latest hash per factory to skip repeats.

    One answer that cannot be stored (text the database refuses, a record that will
    not serialise) becomes that factory's `unstorable` error outcome; the others of
    its batch are stored. Only a database that cannot be reached stops the writer.
    """

    def __init__(
        self,
        engine: Engine,
        connector: str,
        topic: Topic,
        sweep_id: int,
        tally: ConnectorTally | None = None,
    ) -> None:
        self.engine = engine
        self.connector = connector
        self.topic = topic
        self.sweep_id = sweep_id
        self.tally = tally  # counts each outcome as it is stored
        self.latest = _latest(engine, connector)
        self._insert = _DriverInsert(engine)
        # SQLite writes in this process: what a batch costs is CPU, unless another
        # connection holds the write lock (write_unless_locked)
        self.embedded = engine.dialect.name == "sqlite"

    def write(
        self,
        outcomes: list[tuple[int, FetchOutcome]],
        consumed: ConsumedFile | None = None,
        *,
        wait_for_lock: bool = True,
    ) -> int:
        """Store a batch (and the file it came from) in one transaction; return rows added."""
        prepared = [self._prepare(factory_id, outcome) for factory_id, outcome in outcomes]
        try:
            added = self._commit(prepared, consumed, wait_for_lock)
        except _UNREACHABLE:
            raise
        except Exception as exc:
            log.warning(
                "batch refused, storing its answers one at a time",
                connector=self.connector,
                detail=visible(f"{type(exc).__name__}: {exc}")[:300],
            )
            added = self._commit_each(prepared, consumed, wait_for_lock)
        if self.tally is not None:
            for item in prepared:
                self.tally.count(item.outcome)
            self.tally.changed += added
        return added

    def write_unless_locked(self, outcomes: list[tuple[int, FetchOutcome]]) -> bool:
        """`write` the batch unless another connection holds SQLite's write lock: then
        return False at once, nothing stored or counted (the caller writes it on a thread,
        which waits for the lock)."""
        try:
            self.write(outcomes, wait_for_lock=False)
        except OperationalError as exc:
            if "database is locked" not in str(exc.orig):
                raise
            return False
        return True

    def _take_lock_at_once(self, session: Any) -> None:
        """SQLite's write lock for this transaction now, or OperationalError if it is held."""
        connection = session.connection()
        connection.exec_driver_sql("PRAGMA busy_timeout=0")
        try:
            # a write statement takes the lock even when it matches no row
            connection.exec_driver_sql("UPDATE observation SET id = id WHERE 0")
        finally:
            connection.exec_driver_sql(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")

    def _prepare(self, factory_id: int, outcome: FetchOutcome) -> _Prepared:
        try:
            payload_json = outcome.payload_json
            records_json = outcome.records_json
        except Exception as exc:  # a plugin's record that will not serialise
            outcome = self._unstorable(outcome, exc)
            payload_json, records_json = None, "[]"
        digest = outcome.fingerprint(payload_json)
        row = {
            "factory_id": factory_id,
            "connector": self.connector,
            "topic": self.topic.value,
            "outcome": outcome.kind,
            "error_kind": outcome.error_kind.value if outcome.error_kind else None,
            # a provider's error page may echo the request, key and all
            "error_detail": mask_secrets(outcome.error_detail) if outcome.error_detail else None,
            "payload_hash": digest,
            "payload": payload_json,
            "records": records_json,
            "fetched_at": outcome.fetched_at,
            "last_checked_at": outcome.fetched_at,
            "sweep_id": self.sweep_id,
        }
        return _Prepared(factory_id, outcome, digest, row)

    def _unstorable(self, outcome: FetchOutcome, exc: Exception) -> FetchOutcome:
        detail = f"the answer could not be stored: {type(exc).__name__}: {exc}"
        log.error(
            "answer could not be stored",
            connector=self.connector,
            credit_code=outcome.credit_code,
            detail=visible(detail)[:300],
        )
        return FetchOutcome.error(
            outcome.connector, outcome.credit_code, ErrorKind.UNSTORABLE, detail, outcome.fetched_at
        )

    def _commit_each(
        self, prepared: list[_Prepared], consumed: ConsumedFile | None, wait_for_lock: bool
    ) -> int:
        """The batch again, one answer per transaction: the one refused becomes an error."""
        added = 0
        for index, item in enumerate(prepared):
            try:
                added += self._commit([item], None, wait_for_lock)
            except _UNREACHABLE:
                raise
            except Exception as exc:
                prepared[index] = self._prepare(
                    item.factory_id, self._unstorable(item.outcome, exc)
                )
                # an error outcome refused as well is the database's fault: it raises
                added += self._commit([prepared[index]], None, wait_for_lock)
        if consumed is not None:
            self._commit([], consumed, wait_for_lock)
        return added

    def _commit(
        self, prepared: list[_Prepared], consumed: ConsumedFile | None, wait_for_lock: bool = True
    ) -> int:
        now = now_utc()
        unchanged_ids: list[int] = []
        new_rows: list[dict[str, Any] | tuple[Any, ...]] = []
        pending: dict[int, str] = {}
        for item in prepared:
            previous = self.latest.get(item.factory_id)
            if previous is not None and previous[1] == item.digest:
                if previous[0] is not None:
                    unchanged_ids.append(previous[0])
                continue
            pending[item.factory_id] = item.digest
            new_rows.append(self._insert.parameters(dict(item.row)))
        with session_scope(self.engine) as session:
            if not wait_for_lock:
                self._take_lock_at_once(session)
            for ids in in_slices(unchanged_ids):  # a dropped file may name every factory
                session.execute(
                    update(Observation)
                    .where(col(Observation.id).in_(ids))
                    .values(last_checked_at=now)
                )
            if new_rows:
                session.connection().exec_driver_sql(self._insert.sql, new_rows)
            self._update_health(session, [item.outcome for item in prepared], now)
            if consumed is not None:
                session.add(consumed)
        # Only after the commit: a rolled-back batch must not be taken as stored. The new
        # rows' ids are not needed: they were checked just now, so a repeat of the same
        # answer later in this sweep has nothing to move.
        for factory_id, digest in pending.items():
            self.latest[factory_id] = (None, digest)
        return len(new_rows)

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
            health.last_error_detail = mask_secrets(
                f"{last_error.credit_code}: {last_error.error_detail}"
            )
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
            health.last_error_detail = mask_secrets(detail)
            health.updated_at = now


def source_health(session: Any) -> list[ConnectorHealth]:
    """Each source's health as the sweeps recorded it, by name (status)."""
    return list(session.scalars(select(ConnectorHealth).order_by(col(ConnectorHealth.connector))))
