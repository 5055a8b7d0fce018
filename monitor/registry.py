"""The register of designated factories: import, rename, revoke, look-up.

An import is all-or-nothing: the whole file is parsed and checked before the
database is touched, and then written in one transaction.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from openpyxl.utils import get_column_letter
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from connectors.base import parse_date as parse_provider_date
from connectors.tables import TableError, read_table
from monitor.clock import now_utc, today_beijing
from monitor.codes import InvalidCreditCode, resolve_district, validate_credit_code
from monitor.db import session_scope
from monitor.errors import BadInput, NotFound, Refused
from monitor.flags import resolve_answered
from monitor.i18n import Message, language, t
from monitor.models import DesignationEvent, Factory
from monitor.operators import Operator
from monitor.vocabulary import DesignationStatus, EventKind, Level

if TYPE_CHECKING:
    from monitor.alerts.outbox import Outbox
from monitor.rules.naming import normalise_name


@dataclass(frozen=True)
class Column:
    field: str
    chinese: str
    required: bool = True


COLUMNS = (
    Column("credit_code", "统一社会信用代码"),
    Column("name", "企业名称"),
    Column("level", "级别"),
    Column("district", "所在区"),
    Column("designated_on", "认定日期"),
    Column("registered_address", "注册地址", required=False),
)

_LEVELS = {
    "basic": Level.BASIC,
    "基础级": Level.BASIC,
    "基础": Level.BASIC,
    "advanced": Level.ADVANCED,
    "先进级": Level.ADVANCED,
    "先进": Level.ADVANCED,
}


@dataclass(frozen=True)
class RowError:
    """One problem in an import file, located so a spreadsheet user can find it."""

    file: str
    row: int | None
    column: str | None
    column_letter: str | None
    message: Message

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f", row {self.row}" if language() == "en" else f" 第 {self.row} 行"
        if self.column:
            letter = f" ({self.column_letter})" if self.column_letter else ""
            where += (
                f", column '{self.column}'{letter}"
                if language() == "en"
                else f"，列“{self.column}”{letter}"
            )
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class FactoryRow:
    """A validated row of an import file."""

    row: int
    credit_code: str
    name: str
    level: Level
    district_code: str
    designated_on: date
    registered_address: str | None  # None when the file has no address column

    def register_values(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "level": self.level.value,
            "district_code": self.district_code,
            "designated_on": self.designated_on,
            "registered_address": self.registered_address,
        }


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
                code: {name: [_plain(v) for v in pair] for name, pair in changes.items()}
                for code, changes in self.updated.items()
            },
            "unchanged": self.unchanged,
        }


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


# ---------------------------------------------------------------- reading files


def _read(path: Path) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    try:
        return read_table(path)
    except TableError as exc:
        message = {
            "encoding": Message("import.encoding"),
            "format": Message("import.format", suffix=path.suffix.lower()),
        }.get(exc.reason, Message("import.unreadable", detail=exc.detail))
        raise BadInput(str(RowError(path.name, None, None, None, message))) from exc


def _header_key(text: str) -> str:
    return re.sub(r"[\s_]+", "", unicodedata.normalize("NFKC", text)).lower()


def parse_date(text: str) -> date:
    """A date as staff type it: 2025-06-30, 2025/6/30 or 2025年6月30日."""
    return parse_provider_date(text.strip())


def parse_factories(
    path: Path, *, accept_codes: Iterable[str] = (), today: date | None = None
) -> tuple[list[FactoryRow], list[RowError]]:
    """Every valid row and every error of an import file; nothing is written."""
    today = today or today_beijing()
    name = path.name
    header, body = _read(path)
    errors: list[RowError] = []

    positions: dict[str, int] = {}
    wanted = {_header_key(c.field): c for c in COLUMNS} | {
        _header_key(c.chinese): c for c in COLUMNS
    }
    for index, title in enumerate(header):
        column = wanted.get(_header_key(title))
        if column is None:
            continue  # extra columns (序号, 备注, ...) are common and harmless
        if column.field in positions:
            errors.append(
                RowError(
                    name,
                    1,
                    title,
                    get_column_letter(index + 1),
                    Message("import.duplicate_column", column=title),
                )
            )
        positions[column.field] = index
    for column in COLUMNS:
        if column.required and column.field not in positions:
            errors.append(
                RowError(
                    name,
                    1,
                    None,
                    None,
                    Message("import.missing_column", column=column.chinese, english=column.field),
                )
            )
    if errors:
        return [], errors

    titles = {field_: header[index] for field_, index in positions.items()}
    letters = {field_: get_column_letter(index + 1) for field_, index in positions.items()}
    accepted = list(accept_codes)
    first_row_of: dict[str, int] = {}
    rows: list[FactoryRow] = []
    for number, cells in body:

        def cell(field_: str, cells: list[str] = cells) -> str:
            index = positions.get(field_)
            return cells[index].strip() if index is not None and index < len(cells) else ""

        def fail(field_: str, message: Message, number: int = number) -> None:
            errors.append(RowError(name, number, titles[field_], letters[field_], message))

        values: dict[str, Any] = {}
        for column in COLUMNS:
            if column.required and column.field in positions and not cell(column.field):
                fail(column.field, Message("value.missing"))
        code_text = cell("credit_code")
        if code_text:
            try:
                values["credit_code"] = validate_credit_code(code_text, accept=accepted)
            except InvalidCreditCode as exc:
                fail("credit_code", exc.message)
        if cell("level"):
            level = _LEVELS.get(cell("level").lower())
            if level is None:
                fail("level", Message("level.unknown", value=cell("level")))
            values["level"] = level
        if cell("district"):
            district = resolve_district(cell("district"))
            if district is None:
                fail("district", Message("district.unknown", value=cell("district")))
            else:
                values["district_code"] = district.code
        if cell("designated_on"):
            try:
                designated_on = parse_date(cell("designated_on"))
            except ValueError:
                fail("designated_on", Message("date.invalid", value=cell("designated_on")))
            else:
                if designated_on > today:
                    fail("designated_on", Message("date.future", value=designated_on.isoformat()))
                values["designated_on"] = designated_on

        code = values.get("credit_code")
        if code:
            if code in first_row_of:
                fail(
                    "credit_code",
                    Message("import.duplicate_code", code=code, first_row=first_row_of[code]),
                )
                continue
            first_row_of[code] = number
        if not errors:  # once the file is rejected, only its errors are collected
            address = cell("registered_address") if "registered_address" in positions else None
            rows.append(
                FactoryRow(
                    row=number,
                    credit_code=values["credit_code"],
                    name=re.sub(r"\s+", " ", cell("name")),
                    level=values["level"],
                    district_code=values["district_code"],
                    designated_on=values["designated_on"],
                    registered_address=address or None,
                )
            )
    if not rows and not errors:
        errors.append(RowError(name, None, None, None, Message("import.empty")))
    return rows, errors


# ---------------------------------------------------------------- writing the register


def _record(
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


def import_factories(
    engine: Engine,
    path: Path,
    *,
    actor: str,
    accept_codes: Iterable[str] = (),
    dry_run: bool = False,
    today: date | None = None,
) -> ImportReport:
    """Add new factories and update changed ones from a CSV/XLSX file, all or nothing."""
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
            if factory is None:
                report.added.append(row.credit_code)
                if dry_run:
                    continue
                factory = Factory(credit_code=row.credit_code, **row.register_values())
                session.add(factory)
                session.flush()
                _record(
                    session,
                    factory,
                    EventKind.DESIGNATED,
                    occurred_on=row.designated_on,
                    actor=actor,
                    source=path.name,
                    details={k: _plain(v) for k, v in row.register_values().items()},
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
            _record(
                session,
                factory,
                EventKind.DESIGNATED if redesignated else EventKind.UPDATED,
                occurred_on=row.designated_on if redesignated else (today or today_beijing()),
                actor=actor,
                source=path.name,
                details={"changes": {k: [_plain(v) for v in pair] for k, pair in changes.items()}},
            )
    return report


def _require_text(value: str, field_name: str) -> str:
    if not value or not value.strip():
        raise BadInput(Message("text.blank", field=field_name))
    return value.strip()


def find_factory(session: Session, code: str, *, accept_codes: Iterable[str] = ()) -> Factory:
    """The factory with this credit code; BadInput if the code is malformed, NotFound if absent."""
    try:
        normalised = validate_credit_code(code, accept=accept_codes)
    except InvalidCreditCode as exc:
        raise BadInput(exc.message) from exc
    factory = session.exec(select(Factory).where(Factory.credit_code == normalised)).first()
    if factory is None:
        raise NotFound(Message("factory.not_found", code=normalised))
    return factory


def _check_decision_date(factory: Factory, value: date, today: date) -> None:
    if value > today:
        raise BadInput(Message("date.future", value=value.isoformat()))
    if value < factory.designated_on:
        raise BadInput(
            Message(
                "factory.date_before_designation",
                value=value.isoformat(),
                designated_on=factory.designated_on.isoformat(),
            )
        )


def rename_factory(
    engine: Engine,
    code: str,
    *,
    new_name: str,
    approved_on: date,
    reference: str | None,
    operator: Operator,
    outbox: Outbox | None,
    accept_codes: Iterable[str] = (),
    today: date | None = None,
) -> tuple[Factory, str]:
    """Record the bureau's approval of a name change; return the factory and its former name."""
    new_name = re.sub(r"\s+", " ", _require_text(new_name, "--name"))
    with session_scope(engine) as session:
        factory = find_factory(session, code, accept_codes=accept_codes)
        operator.require_municipal("认定企业名称变更")
        if factory.status == DesignationStatus.REVOKED:
            raise Refused(
                Message(
                    "factory.revoked_cannot_rename",
                    code=factory.credit_code,
                    revoked_on=str(factory.revoked_on),
                )
            )
        if factory.name == new_name:
            raise BadInput(Message("factory.same_name", code=factory.credit_code, name=new_name))
        _check_decision_date(factory, approved_on, today or today_beijing())
        former = factory.name
        factory.name = new_name
        factory.updated_at = now_utc()
        _record(
            session,
            factory,
            EventKind.RENAMED,
            occurred_on=approved_on,
            actor=operator.user,
            reference=reference,
            details={"from": former, "to": new_name},
        )
        # The recorded rename answers the pending-rename flag for this very name.
        resolve_answered(
            session,
            factory,
            outbox=outbox,
            actor=operator.user,
            reason=f"rename recorded: {former} → {new_name} ({reference or '—'})",
            rule_id="art12-rename-pending",
            evidence_key=f"name:{normalise_name(new_name)}",
        )
    return factory, former


def revoke_factory(
    engine: Engine,
    code: str,
    *,
    decided_on: date,
    reference: str,
    reason: str,
    operator: Operator,
    outbox: Outbox | None,
    accept_codes: Iterable[str] = (),
    today: date | None = None,
) -> Factory:
    """Record the revocation of a designation (Article 12); it answers every open flag."""
    reference = _require_text(reference, "--ref")
    reason = _require_text(reason, "--reason")
    with session_scope(engine) as session:
        factory = find_factory(session, code, accept_codes=accept_codes)
        operator.require_revocation_power(factory)
        if factory.status == DesignationStatus.REVOKED:
            raise Refused(
                Message(
                    "factory.revoked_already",
                    code=factory.credit_code,
                    revoked_on=str(factory.revoked_on),
                )
            )
        _check_decision_date(factory, decided_on, today or today_beijing())
        factory.status = DesignationStatus.REVOKED.value
        factory.revoked_on = decided_on
        factory.updated_at = now_utc()
        _record(
            session,
            factory,
            EventKind.REVOKED,
            occurred_on=decided_on,
            actor=operator.user,
            reference=reference,
            reason=reason,
        )
        resolve_answered(
            session,
            factory,
            outbox=outbox,
            actor=operator.user,
            reason=f"designation revoked on {decided_on} ({reference}): {reason}",
        )
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
        resolved_level = _LEVELS.get(level.strip().lower())
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
