"""The audit's hash chain: an entry no one can rewrite unseen (DESIGN §7, issue 22).

The append-only triggers stop every client but a database superuser, who can drop
them. So every audit entry (`flag_audit`, `designation_event`) is sealed into one
chain, `audit_seal`: each seal carries the SHA-256 of its entry's content (a
canonical JSON of every column) and of the seal before it. `sfm audit verify`
walks the chain and names the first entry changed, removed or out of place; the
chain's head and length, kept elsewhere (the bureau's mailbox), show a chain that
was rebuilt whole.

Entries are sealed right after the transaction that wrote them commits (a
session event), in a short transaction of their own that only sealers contend
for: writing a decision never waits on the chain. An entry not yet sealed is
reported as such by `verify`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import structlog
from sqlalchemy import Connection, Engine, Table, event, func, insert, select, text
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from monitor.storage.models import AuditSeal, DesignationEvent, FlagAudit

log = structlog.get_logger("sfm.audit")

GENESIS = "0" * 64
AUDITED: dict[str, Table] = {
    "flag_audit": FlagAudit.__table__,  # type: ignore[attr-defined]
    "designation_event": DesignationEvent.__table__,  # type: ignore[attr-defined]
}
# Transactions commit out of id order (PostgreSQL's sequences): a seal looks back this
# many ids behind the newest sealed one for entries committed late.
LOOK_BACK_IDS = 10_000
_CHUNK = 2_000


def _canonical(value: Any) -> Any:
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC).isoformat(timespec="microseconds")
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"no canonical form for {type(value).__name__}")


# Columns added after entries were first sealed: left out of the content while empty, so an
# entry sealed before the column existed still verifies.
ADDED_LATER = frozenset({"actor_name"})


def content_hash(table: str, row: dict[str, Any]) -> str:
    """SHA-256 of an entry's every column, as sorted compact JSON (UTC ISO times)."""
    row = {key: value for key, value in row.items() if key not in ADDED_LATER or value is not None}
    canonical = json.dumps(
        {"table": table, **row},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
        default=_canonical,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def seal_hash(seq: int, table: str, row_id: int, content: str, previous: str) -> str:
    """A seal's own hash: its place, its entry, the entry's content, the seal before."""
    line = f"{seq}\n{table}\n{row_id}\n{content}\n{previous}"
    return hashlib.sha256(line.encode("utf-8")).hexdigest()


def _lock(connection: Connection) -> None:
    """One sealer at a time, per database and schema."""
    if connection.dialect.name == "postgresql":
        connection.execute(
            text(
                "SELECT pg_advisory_xact_lock(hashtext('sfm-audit-seal'), "
                "hashtext(current_database() || '/' || current_schema()))"
            )
        )
    else:  # SQLite: a write first, so the head read next is the newest (one writer)
        connection.execute(text("DELETE FROM audit_seal WHERE 0 = 1"))


def seal(engine: Engine) -> int:
    """Seal every entry not sealed yet; how many were."""
    seals = AuditSeal.__table__  # type: ignore[attr-defined]
    with engine.begin() as connection:
        _lock(connection)
        head = connection.execute(
            select(seals.c.seq, seals.c.entry_hash).order_by(seals.c.seq.desc()).limit(1)
        ).first()
        seq, previous = (head[0], head[1]) if head else (0, GENESIS)
        made = []
        for name, table in AUDITED.items():
            newest = connection.execute(
                select(func.max(seals.c.row_id)).where(seals.c.audit_table == name)
            ).scalar()
            floor = max(0, (newest or 0) - LOOK_BACK_IDS)
            sealed = select(seals.c.row_id).where(
                seals.c.audit_table == name, seals.c.row_id > floor
            )
            rows = connection.execute(
                select(table)
                .where(table.c.id > floor, table.c.id.not_in(sealed))
                .order_by(table.c.id)
            ).mappings()
            for row in rows:
                seq += 1
                content = content_hash(name, dict(row))
                previous = seal_hash(seq, name, row["id"], content, previous)
                made.append(
                    {
                        "seq": seq,
                        "audit_table": name,
                        "row_id": row["id"],
                        "content_hash": content,
                        "entry_hash": previous,
                    }
                )
        for start in range(0, len(made), _CHUNK):
            connection.execute(insert(seals), made[start : start + _CHUNK])
    return len(made)


@dataclass(frozen=True)
class Verification:
    length: int
    head: str
    first_break: str | None  # what is wrong, of the first entry that is
    unsealed: int  # entries written but not (yet) sealed

    @property
    def intact(self) -> bool:
        return self.first_break is None


def verify(engine: Engine, witness: tuple[str, int] | None = None) -> Verification:
    """Walk the chain from its start; stop at the first seal or entry that does not hold.

    `witness` is a (head, length), as `head_and_length` gave it, kept elsewhere (the bureau's
    weekly overview): the seal at that place must still carry that hash, or the chain was
    rebuilt whole since."""
    previous, expected_seq, length = GENESIS, 1, 0
    with engine.connect() as connection:
        for chunk in _chunks(connection):
            rows = _entries(connection, chunk)
            for seal_row in chunk:
                where = f"{seal_row['audit_table']} #{seal_row['row_id']} (seal {seal_row['seq']})"
                problem = None
                if seal_row["seq"] != expected_seq:
                    problem = f"seal {expected_seq} is missing"
                elif seal_row["entry_hash"] != seal_hash(
                    seal_row["seq"],
                    seal_row["audit_table"],
                    seal_row["row_id"],
                    seal_row["content_hash"],
                    previous,
                ):
                    problem = f"{where}: the seal does not follow the one before"
                else:
                    entry = rows.get((seal_row["audit_table"], seal_row["row_id"]))
                    if entry is None:
                        problem = f"{where}: the entry was removed"
                    elif content_hash(seal_row["audit_table"], entry) != seal_row["content_hash"]:
                        problem = f"{where}: the entry was changed"
                    elif (
                        witness
                        and witness[1] == seal_row["seq"]
                        and witness[0] != seal_row["entry_hash"]
                    ):
                        problem = f"{where}: the seal is not the one the witness kept"
                if problem:
                    return Verification(length, previous, problem, _unsealed(connection))
                previous, expected_seq, length = (
                    seal_row["entry_hash"],
                    expected_seq + 1,
                    length + 1,
                )
        if witness and witness[1] > length:
            problem = f"seal {witness[1]}, which the witness kept, is missing"
            return Verification(length, previous, problem, _unsealed(connection))
        return Verification(length, previous, None, _unsealed(connection))


def _chunks(connection: Connection) -> Iterator[list[dict[str, Any]]]:
    seals = AuditSeal.__table__  # type: ignore[attr-defined]
    after = 0
    while True:
        chunk = [
            dict(row)
            for row in connection.execute(
                select(seals).where(seals.c.seq > after).order_by(seals.c.seq).limit(_CHUNK)
            ).mappings()
        ]
        if not chunk:
            return
        yield chunk
        after = chunk[-1]["seq"]


def _entries(
    connection: Connection, chunk: Sequence[dict[str, Any]]
) -> dict[tuple[str, int], dict[str, Any]]:
    found: dict[tuple[str, int], dict[str, Any]] = {}
    for name, table in AUDITED.items():
        ids = [s["row_id"] for s in chunk if s["audit_table"] == name]
        if ids:
            for row in connection.execute(select(table).where(table.c.id.in_(ids))).mappings():
                found[(name, row["id"])] = dict(row)
    return found


def _unsealed(connection: Connection) -> int:
    seals = AuditSeal.__table__  # type: ignore[attr-defined]
    total = 0
    for name, table in AUDITED.items():
        sealed = select(seals.c.row_id).where(seals.c.audit_table == name)
        total += connection.execute(
            select(func.count()).select_from(table).where(table.c.id.not_in(sealed))
        ).scalar_one()
    return total


def head_and_length(engine: Engine) -> tuple[str, int]:
    """The newest seal's hash and the chain's length: what a witness keeps."""
    seals = AuditSeal.__table__  # type: ignore[attr-defined]
    with engine.connect() as connection:
        row = connection.execute(
            select(seals.c.entry_hash, seals.c.seq).order_by(seals.c.seq.desc()).limit(1)
        ).first()
    return (row[0], row[1]) if row else (GENESIS, 0)


# ------------------------------------------------------------ sealing after each commit

_TOUCHED = "sfm_audit_written"


def _noticed_flush(session: Session, _context: UOWTransaction, _instances: Any) -> None:
    if any(isinstance(obj, FlagAudit | DesignationEvent) for obj in session.new):
        session.info[_TOUCHED] = True


def _noticed_insert(state: ORMExecuteState) -> None:
    if state.is_insert:
        table = getattr(state.statement, "table", None)
        if getattr(table, "name", None) in AUDITED:
            state.session.info[_TOUCHED] = True


def _seal_after_commit(session: Session) -> None:
    if not session.info.pop(_TOUCHED, False):
        return
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    try:
        seal(engine)
    except Exception as exc:  # the decision is committed; the next seal takes it in
        log.warning("audit entries not sealed yet", error=f"{type(exc).__name__}: {exc}")


def _forget(session: Session, _previous: Any = None) -> None:
    session.info.pop(_TOUCHED, None)


event.listen(Session, "before_flush", _noticed_flush)
event.listen(Session, "do_orm_execute", _noticed_insert)
event.listen(Session, "after_commit", _seal_after_commit)
event.listen(Session, "after_rollback", _forget)
