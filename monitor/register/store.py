"""The register of designated factories as stored: import, look-up, listing, history.

An import writes in one transaction what monitor/register/parse.py accepted
whole; every change is a `designation_event`. Decisions taken on a designation
(rename, revoke) are monitor/decisions.py.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from monitor.clock import now_utc, today_beijing
from monitor.codes import DISTRICTS_BY_CODE, resolve_district, validate_credit_code
from monitor.errors import BadInput, NotFound, Refused
from monitor.i18n import Message, t
from monitor.operators import Operator
from monitor.register.parse import LEVELS, FactoryRow, parse_factories, plain
from monitor.storage.db import session_scope
from monitor.storage.models import DesignationEvent, Factory
from monitor.vocabulary import DesignationStatus, EventKind


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
) -> DesignationEvent:
    assert factory.id is not None
    event = DesignationEvent(
        factory_id=factory.id,
        kind=kind.value,
        occurred_on=occurred_on,
        actor=actor,
        reference=reference,
        reason=reason,
        source=source,
        details=details or {},
    )
    session.add(event)
    return event


def _changes(factory: Factory, row: FactoryRow) -> dict[str, list[Any]]:
    changes: dict[str, list[Any]] = {}
    for name, new in row.register_values().items():
        if name == "registered_address" and new is None:
            continue  # a file without an address column leaves the address alone
        old = getattr(factory, name)
        if old != new:
            changes[name] = [old, new]
    return changes


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


def _check_decisions(session: Session, factory: Factory, row: FactoryRow, file: str) -> None:
    """A row may not silently undo a recorded rename or revocation."""
    if (
        factory.status == DesignationStatus.REVOKED
        and factory.revoked_on is not None
        and row.designated_on <= factory.revoked_on
        and _changes(factory, row)
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
        existing = {
            factory.credit_code: factory
            for factory in session.exec(
                select(Factory).where(col(Factory.credit_code).in_([r.credit_code for r in rows]))
            )
        }
        now = now_utc()
        for row in rows:
            factory = existing.get(row.credit_code)
            _check_scope(operator, row, factory, path.name)
            if factory is not None:
                _check_decisions(session, factory, row, path.name)
            if factory is None:
                report.added.append(row.credit_code)
                if dry_run:
                    continue
                factory = Factory(credit_code=row.credit_code, **row.register_values())
                session.add(factory)
                session.flush()
                record_event(
                    session,
                    factory,
                    EventKind.DESIGNATED,
                    occurred_on=row.designated_on,
                    actor=actor,
                    source=path.name,
                    details={k: plain(v) for k, v in row.register_values().items()},
                )
                continue
            changes = _changes(factory, row)
            redesignated = (
                factory.status == DesignationStatus.REVOKED
                and factory.revoked_on is not None
                and row.designated_on > factory.revoked_on
            )
            if not changes:
                report.unchanged += 1
                continue
            report.updated[row.credit_code] = changes
            if dry_run:
                continue
            for name, (_old, new) in changes.items():
                setattr(factory, name, new)
            factory.updated_at = now
            if redesignated:
                factory.status = DesignationStatus.ACTIVE.value
                factory.revoked_on = None
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


def find_factory(session: Session, code: str, *, accept_codes: Iterable[str] = ()) -> Factory:
    """The factory with this credit code; BadInput if the code is malformed, NotFound if absent."""
    normalised = validate_credit_code(code, accept=accept_codes)
    factory = session.exec(select(Factory).where(Factory.credit_code == normalised)).first()
    if factory is None:
        raise NotFound(Message("factory.not_found", code=normalised))
    return factory


def list_factories(
    engine: Engine, *, district: str | None = None, level: str | None = None
) -> list[Factory]:
    """The register, filtered; district and level accept every spelling an import accepts."""
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
    with session_scope(engine) as session:
        return list(session.exec(query))


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


def summary_text(report: ImportReport) -> str:
    key = "import.summary" if report.changed else "import.nothing_changed"
    text = t(
        key,
        file=report.file,
        added=len(report.added),
        updated=len(report.updated),
        unchanged=report.unchanged,
    )
    return f"{text} {t('import.dry_run')}" if report.dry_run else text
