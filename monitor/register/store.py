"""The register of designated factories as stored: import, look-up, listing, history.

An import writes in one transaction what monitor/register/parse.py accepted
whole; every change is a `designation_event`. Decisions taken on a designation
(rename, revoke) are monitor/decisions.py.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, false, func, insert, text, update
from sqlmodel import Session, col, select

from monitor.clock import now_utc, today_beijing
from monitor.codes import DISTRICTS_BY_CODE, resolve_district, validate_credit_code
from monitor.errors import BadInput, NotFound, Refused
from monitor.i18n import Message
from monitor.operators import Operator
from monitor.register.parse import LEVELS, FactoryRow, parse_factories, plain
from monitor.storage.db import in_slices, session_scope
from monitor.storage.models import Designation, DesignationEvent, Factory
from monitor.vocabulary import DesignationStatus, EventKind, Level


@dataclass
class ImportReport:
    file: str
    added: list[str] = field(default_factory=list)
    updated: dict[str, dict[str, list[Any]]] = field(default_factory=dict)
    unchanged: int = 0
    dry_run: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated)

    def as_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "dry_run": self.dry_run,
            "added": self.added,
            "updated": {
                code: {name: [plain(v) for v in pair] for name, pair in changes.items()}
                for code, changes in self.updated.items()
            },
            "unchanged": self.unchanged,
        }


def record_event(
    session: Session,
    factory: Factory,
    kind: EventKind,
    *,
    occurred_on: date,
    actor: str,
    reference: str | None = None,
    reason: str | None = None,
    source: str | None = None,
    details: dict[str, Any] | None = None,
    actor_name: str | None = None,
) -> DesignationEvent:
    assert factory.id is not None
    event = DesignationEvent(
        factory_id=factory.id,
        kind=kind.value,
        occurred_on=occurred_on,
        actor=actor,
        actor_name=actor_name,
        reference=reference,
        reason=reason,
        source=source,
        details=details or {},
    )
    session.add(event)
    return event


# the rest of a row is its designation's
ENTERPRISE_FIELDS = {"name", "registered_address", "baseline_entity_type"}


def _changes(
    factory: Factory, designation: Designation | None, row: FactoryRow
) -> dict[str, list[Any]]:
    """What the row changes: the enterprise's name and address, its designation's date,
    district and reference."""
    changes: dict[str, list[Any]] = {}
    wanted: list[tuple[Any, str, Any]] = [(factory, "name", row.name)]
    if row.registered_address is not None:  # a file without the column leaves it alone
        wanted.append((factory, "registered_address", row.registered_address))
    if row.entity_type is not None:  # the register's word on the designated entity type
        wanted.append((factory, "baseline_entity_type", row.entity_type))
    if designation is not None:
        wanted += [
            (designation, "designated_on", row.designated_on),
            (designation, "district_code", row.district_code),
        ]
        if row.reference is not None:
            wanted.append((designation, "reference", row.reference))
    for holder, name, new in wanted:
        old = getattr(holder, name)
        if old != new:
            changes[name] = [old, new]
    return changes


DesignationKey = tuple[int, str, str]  # factory id, level, designated factory name


def _designations(session: Session, factory_ids: list[int]) -> dict[DesignationKey, Designation]:
    """The designations of these enterprises, asked in slices, by what identifies one."""
    found: dict[DesignationKey, Designation] = {}
    for chunk in in_slices(factory_ids):
        for held in session.exec(select(Designation).where(col(Designation.factory_id).in_(chunk))):
            found[(held.factory_id, held.level, held.name)] = held
    return found


def districts_of(session: Session, factory: Factory) -> list[str]:
    """The districts of an enterprise's designations in force (all of them once revoked): what
    routing and scope both read."""
    held = list(session.exec(select(Designation).where(Designation.factory_id == factory.id)))
    active = [d for d in held if d.status == DesignationStatus.ACTIVE.value]
    return sorted({d.district_code for d in (active or held)}) or [factory.district_code]


def summarise(session: Session, factory: Factory) -> None:
    """The enterprise's register entry from its designations: the highest level and the
    earliest date among those in force, their district, and whether any is in force.
    The only writer of those columns besides the first import of the enterprise."""
    held = list(
        session.exec(
            select(Designation)
            .where(Designation.factory_id == factory.id)
            .order_by(col(Designation.designated_on), col(Designation.id))
        )
    )
    if not held:
        return
    active = [d for d in held if d.status == DesignationStatus.ACTIVE.value]
    basis = active or held
    factory.level = (
        Level.ADVANCED.value
        if any(d.level == Level.ADVANCED.value for d in basis)
        else Level.BASIC.value
    )
    factory.designated_on = basis[0].designated_on
    factory.district_code = basis[0].district_code
    factory.status = DesignationStatus.ACTIVE.value if active else DesignationStatus.REVOKED.value
    factory.revoked_on = None if active else max(d.revoked_on or d.designated_on for d in held)
    session.add(factory)


def _check_scope(operator: Operator, row: FactoryRow, factory: Factory | None, file: str) -> None:
    """A district operator imports rows of their own districts only, the bureau any."""
    for district in {row.district_code, factory.district_code if factory else row.district_code}:
        if not operator.covers(district):
            name = DISTRICTS_BY_CODE[district].name if district in DISTRICTS_BY_CODE else district
            raise Refused(
                Message(
                    "import.out_of_scope",
                    file=file,
                    row=row.row,
                    code=row.credit_code,
                    user=operator.user,
                    scope=operator.scope_text(),
                    district=name,
                )
            )


def _check_decisions(
    session: Session,
    factory: Factory,
    designation: Designation | None,
    row: FactoryRow,
    file: str,
) -> None:
    """A row may not silently undo a recorded rename or revocation."""
    revoked_on = designation.revoked_on if designation is not None else factory.revoked_on
    revoked = (designation or factory).status == DesignationStatus.REVOKED
    if (
        revoked
        and revoked_on is not None
        and row.designated_on <= revoked_on
        # a designation dated before the revocation would have been revoked with the rest
        and (designation is None or _changes(factory, designation, row))
    ):
        event = _latest_event(session, factory, EventKind.REVOKED)
        raise Refused(
            Message(
                "import.contradicts_revocation",
                file=file,
                row=row.row,
                code=row.credit_code,
                revoked_on=str(factory.revoked_on),
                reference=(event.reference if event else None) or "—",
            )
        )
    if row.name != factory.name:
        event = _latest_event(session, factory, EventKind.RENAMED)
        if event is not None:
            raise Refused(
                Message(
                    "import.contradicts_rename",
                    file=file,
                    row=row.row,
                    code=row.credit_code,
                    name=row.name,
                    recorded=factory.name,
                    on=str(event.occurred_on),
                    reference=event.reference or "—",
                )
            )


def _latest_event(session: Session, factory: Factory, kind: EventKind) -> DesignationEvent | None:
    return session.exec(
        select(DesignationEvent)
        .where(DesignationEvent.factory_id == factory.id, DesignationEvent.kind == kind.value)
        .order_by(col(DesignationEvent.id).desc())
    ).first()


def _designate(
    session: Session, factory: Factory, row: FactoryRow, actor: str, source: str
) -> Designation:
    assert factory.id is not None
    values, event = _designation_values(factory.id, row, actor, source, now_utc())
    designation = Designation(**values)
    session.add_all((designation, DesignationEvent(**event)))
    return designation


def _designation_values(
    factory_id: int, row: FactoryRow, actor: str, source: str, now: datetime
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The designation a register row records, and the event that says so, as columns."""
    level, name = row.designation
    designation = {
        "factory_id": factory_id,
        "name": name,
        "level": level,
        "district_code": row.district_code,
        "designated_on": row.designated_on,
        "reference": row.reference,
        "status": DesignationStatus.ACTIVE.value,
        "revoked_on": None,
        "created_at": now,
    }
    event = {
        "factory_id": factory_id,
        "kind": EventKind.DESIGNATED.value,
        "occurred_on": row.designated_on,
        "recorded_at": now,
        "actor": actor,
        "reference": row.reference,
        "reason": None,
        "source": source,
        "details": {k: plain(v) for k, v in row.register_values().items()}
        | {"factory": name, "level": level},
    }
    return designation, event


def import_factories(
    engine: Engine,
    path: Path,
    *,
    operator: Operator,
    accept_codes: Iterable[str] = (),
    dry_run: bool = False,
    today: date | None = None,
) -> ImportReport:
    """Add new factories and update changed ones from a CSV/XLSX file, all or nothing.

    Importing is a decision like any other: within the operator's districts, and
    never a silent undoing of a recorded rename or revocation (exit 3, nothing written)."""
    actor = operator.user
    rows, errors = parse_factories(path, accept_codes=accept_codes, today=today)
    if errors:
        raise BadInput(
            Message("import.rejected", file=path.name, count=len(errors)),
            details=[str(error) for error in errors],
        )
    report = ImportReport(file=path.name, dry_run=dry_run)
    with session_scope(engine) as session:
        if not dry_run:
            _hold_register(session)
        existing = _existing(session, [row.credit_code for row in rows])
        for row in rows:  # every refusal before the first write
            _check_scope(operator, row, existing.get(row.credit_code), path.name)
        # New enterprises, their first designations and the events saying so, in one
        # batch of plain inserts each: a 100,000-row register holds the write lock for
        # seconds, not for a round trip (or an ORM object) per enterprise. The first row
        # of an enterprise makes its entry, which that row alone summarises.
        first_rows = {row.credit_code: row for row in reversed(rows)}
        in_file_order = dict.fromkeys(row.credit_code for row in rows)
        new_codes = [code for code in in_file_order if code not in existing]
        if new_codes and not dry_run:
            _insert_new(session, [first_rows[code] for code in new_codes], actor, path.name)
            # an enterprise with more rows in this file needs its entry for them
            rows_per_code = Counter(row.credit_code for row in rows)
            existing.update(_existing(session, [c for c in new_codes if rows_per_code[c] > 1]))
        made_now = set(new_codes)
        held = _designations(
            session, [factory.id for factory in existing.values() if factory.id is not None]
        )
        now = now_utc()
        for row in rows:
            factory = existing.get(row.credit_code)
            if factory is None or (
                row.credit_code in made_now and row is first_rows[row.credit_code]
            ):
                report.added.append(row.credit_code)
                continue
            level, name = row.designation
            designation = held.get((factory.id or 0, level, name))
            _check_decisions(session, factory, designation, row, path.name)
            if designation is None:  # another designation of a known enterprise (Article 7)
                changes = _changes(factory, None, row)
                report.updated[row.credit_code] = changes | {
                    "designation": [None, f"{level} {name or row.name}"]
                }
                if not dry_run:
                    for field, (_old, new) in changes.items():
                        setattr(factory, field, new)
                    factory.updated_at = now
                    added = _designate(session, factory, row, actor, path.name)
                    held[(factory.id or 0, added.level, added.name)] = added
                    session.flush()
                    summarise(session, factory)
                continue
            changes = _changes(factory, designation, row)
            redesignated = (
                designation.status == DesignationStatus.REVOKED
                and designation.revoked_on is not None
                and row.designated_on > designation.revoked_on
            )
            if not changes:
                report.unchanged += 1
                continue
            report.updated[row.credit_code] = changes
            if dry_run:
                continue
            for name, (_old, new) in changes.items():
                setattr(factory if name in ENTERPRISE_FIELDS else designation, name, new)
            factory.updated_at = now
            if redesignated:
                designation.status = DesignationStatus.ACTIVE.value
                designation.revoked_on = None
            session.add(designation)
            summarise(session, factory)
            record_event(
                session,
                factory,
                EventKind.DESIGNATED if redesignated else EventKind.UPDATED,
                occurred_on=row.designated_on if redesignated else (today or today_beijing()),
                actor=actor,
                source=path.name,
                details={"changes": {k: [plain(v) for v in pair] for k, pair in changes.items()}},
            )
    return report


def _hold_register(session: Session) -> None:
    """The register's write lock until the transaction ends, taken before anything is read:
    two imports at once (two offices through the daemon) run one after the other, the second
    comparing its file with what the first wrote, never inserting the same enterprise."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext('sfm-register-import'))"))
    else:  # SQLite: a write (of nothing) takes the database's write lock
        session.execute(update(Factory).where(false()).values(updated_at=Factory.updated_at))


def _insert_new(session: Session, rows: list[FactoryRow], actor: str, source: str) -> None:
    """New enterprises from their first rows, each with its designation and the event
    recording it, as three multi-row INSERTs."""
    now = now_utc()
    factories = [
        {"credit_code": row.credit_code, **row.register_values()}
        | {"status": DesignationStatus.ACTIVE.value, "revoked_on": None}
        | {"baseline_entity_type": row.entity_type, "created_at": now, "updated_at": now}
        for row in rows
    ]
    inserted = session.execute(
        insert(Factory).returning(col(Factory.id), col(Factory.credit_code)), factories
    )
    ids = {code: factory_id for factory_id, code in inserted}
    made = [_designation_values(ids[row.credit_code], row, actor, source, now) for row in rows]
    session.execute(insert(Designation), [designation for designation, _ in made])
    session.execute(insert(DesignationEvent), [event for _, event in made])


def _existing(session: Session, codes: list[str]) -> dict[str, Factory]:
    """The register's entries for these codes, asked in slices below SQLite's variable limit."""
    found: dict[str, Factory] = {}
    for chunk in in_slices(sorted(set(codes))):
        query = select(Factory).where(col(Factory.credit_code).in_(chunk))
        found.update((factory.credit_code, factory) for factory in session.exec(query))
    return found


def find_factory(session: Session, code: str, *, accept_codes: Iterable[str] = ()) -> Factory:
    """The factory with this credit code; BadInput if the code is malformed, NotFound if absent."""
    normalised = validate_credit_code(code, accept=accept_codes)
    factory = session.exec(select(Factory).where(Factory.credit_code == normalised)).first()
    if factory is None:
        raise NotFound(Message("factory.not_found", code=normalised))
    return factory


def claim_factory(session: Session, code: str, *, accept_codes: Iterable[str] = ()) -> Factory:
    """The factory with this credit code, held for a decision until the transaction ends.

    The first statement writes its row (PostgreSQL locks it; SQLite takes its write lock),
    so two decisions on one enterprise at once (two staff through the daemon) are taken one
    after the other, the second judged on what the first recorded."""
    normalised = validate_credit_code(code, accept=accept_codes)
    session.execute(
        update(Factory).where(col(Factory.credit_code) == normalised).values(updated_at=now_utc())
    )
    return find_factory(session, normalised, accept_codes=accept_codes)


def list_factories(
    engine: Engine,
    *,
    district: str | None = None,
    level: str | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[Factory]:
    """The register, filtered; district and level accept every spelling an import accepts.
    `limit` and `offset` take one page of it, in its order (district, then credit code)."""
    return list(iter_factories(engine, district=district, level=level, limit=limit, offset=offset))


def iter_factories(
    engine: Engine,
    *,
    district: str | None = None,
    level: str | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> Iterator[Factory]:
    """The register, filtered, read a thousand entries at a time (a 100,000-factory
    register is streamed, not held)."""
    query = select(Factory).order_by(col(Factory.district_code), col(Factory.credit_code))
    if district:
        resolved = resolve_district(district)
        if resolved is None:
            raise BadInput(Message("district.unknown", value=district))
        query = query.where(Factory.district_code == resolved.code)
    if level:
        resolved_level = LEVELS.get(level.strip().lower())
        if resolved_level is None:
            raise BadInput(Message("level.unknown", value=level))
        query = query.where(Factory.level == resolved_level.value)
    if limit is not None:
        query = query.limit(limit)
    if offset:
        query = query.offset(offset)
    with session_scope(engine) as session:
        yield from session.exec(query.execution_options(yield_per=1000))


def factory_history(
    engine: Engine, code: str, *, accept_codes: Iterable[str] = ()
) -> tuple[Factory, list[DesignationEvent]]:
    with session_scope(engine) as session:
        factory = find_factory(session, code, accept_codes=accept_codes)
        events = list(
            session.exec(
                select(DesignationEvent)
                .where(DesignationEvent.factory_id == factory.id)
                .order_by(col(DesignationEvent.id))
            )
        )
        return factory, events


def designations_of(
    engine: Engine, code: str, *, accept_codes: Iterable[str] = ()
) -> list[Designation]:
    """The designations an enterprise holds or held, oldest first."""
    with session_scope(engine) as session:
        factory = find_factory(session, code, accept_codes=accept_codes)
        return list(
            session.exec(
                select(Designation)
                .where(Designation.factory_id == factory.id)
                .order_by(col(Designation.designated_on), col(Designation.id))
            )
        )


def factory_by_id(session: Session, factory_id: int) -> Factory:
    """The enterprise a flag or an event belongs to (the foreign key guarantees it exists)."""
    factory = session.get(Factory, factory_id)
    assert factory is not None
    return factory


def credit_codes(session: Session, factory_ids: Iterable[int]) -> dict[int, str]:
    """The credit code of each of these enterprises, asked in slices."""
    found: dict[int, str] = {}
    for chunk in in_slices(sorted(set(factory_ids))):
        found.update(
            session.execute(
                select(col(Factory.id), col(Factory.credit_code)).where(col(Factory.id).in_(chunk))
            ).all()
        )
    return found


def designation_events(
    session: Session, factory_id: int | None = None
) -> list[tuple[DesignationEvent, str]]:
    """Every designation event (of one enterprise when `factory_id` is given) with its
    enterprise's credit code."""
    query = select(DesignationEvent, col(Factory.credit_code)).join(
        Factory, col(Factory.id) == col(DesignationEvent.factory_id)
    )
    if factory_id is not None:
        query = query.where(col(DesignationEvent.factory_id) == factory_id)
    return [(event, code) for event, code in session.execute(query)]


def basic_filings(
    session: Session, first: date, last: date, district_code: str | None = None
) -> list[tuple[Designation, Factory]]:
    """The basic-level designations filed between `first` and `last` (in one district when
    given), by district, date and id, each with its enterprise (Article 6's filings)."""
    query = (
        select(Designation, Factory)
        .join(Factory, col(Factory.id) == col(Designation.factory_id))
        .where(
            col(Designation.level) == "basic",
            col(Designation.designated_on) >= first,
            col(Designation.designated_on) <= last,
        )
        .order_by(
            col(Designation.district_code), col(Designation.designated_on), col(Designation.id)
        )
    )
    if district_code is not None:
        query = query.where(col(Designation.district_code) == district_code)
    return [(designation, factory) for designation, factory in session.execute(query)]


def events_of(
    session: Session, factory_ids: list[int], kinds: Iterable[str]
) -> list[DesignationEvent]:
    """These enterprises' designation events of the given kinds, oldest first."""
    wanted = list(kinds)
    found: list[DesignationEvent] = []
    for chunk in in_slices(factory_ids):
        found += session.exec(
            select(DesignationEvent).where(
                col(DesignationEvent.factory_id).in_(chunk), col(DesignationEvent.kind).in_(wanted)
            )
        )
    return sorted(found, key=lambda event: event.id or 0)


def active_basic_by_district(session: Session) -> dict[str, int]:
    """How many basic-level enterprises in force each district has (the filing reminders)."""
    return dict(
        session.execute(
            select(col(Factory.district_code), func.count())
            .where(col(Factory.level) == "basic", col(Factory.status) == "active")
            .group_by(col(Factory.district_code))
        ).all()
    )


@dataclass(frozen=True)
class Enterprise:
    name: str
    level: str
    district_code: str


def enterprises(session: Session, factory_ids: Iterable[int]) -> dict[int, Enterprise]:
    """The name, level and district of each of these enterprises, asked in slices."""
    found: dict[int, Enterprise] = {}
    for chunk in in_slices(sorted(set(factory_ids))):
        for factory_id, name, level, district_code in session.execute(
            select(
                col(Factory.id), col(Factory.name), col(Factory.level), col(Factory.district_code)
            ).where(col(Factory.id).in_(chunk))
        ):
            found[factory_id] = Enterprise(name, level, district_code)
    return found


def designations_in_force(session: Session, factory: Factory) -> list[Designation]:
    """The designations an enterprise holds now."""
    return list(
        session.scalars(
            select(Designation).where(
                col(Designation.factory_id) == factory.id,
                col(Designation.status) == DesignationStatus.ACTIVE.value,
            )
        )
    )


def move_designations(session: Session, held: Iterable[Designation], district_code: str) -> None:
    """The designations follow their enterprise to `district_code` (Article 4), written now."""
    for designation in held:
        designation.district_code = district_code
        session.add(designation)
    session.flush()


def revoke_designations(session: Session, factory: Factory, revoked_on: date) -> None:
    """Article 12 revokes the enterprise's 称号: every designation it holds."""
    session.execute(
        update(Designation)
        .where(
            col(Designation.factory_id) == factory.id,
            col(Designation.status) == DesignationStatus.ACTIVE.value,
        )
        .values(status=DesignationStatus.REVOKED.value, revoked_on=revoked_on)
    )


def rename_enterprise(factory: Factory, new_name: str) -> str:
    """The bureau's approved name change, written with the decision; the former name."""
    former = factory.name
    factory.name = new_name
    touch(factory)
    return former


def touch(factory: Factory) -> None:
    """The enterprise's register entry changed now (a decision recorded on it)."""
    factory.updated_at = now_utc()
