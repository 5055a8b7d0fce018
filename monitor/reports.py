"""Read-side views for staff: flag lists, one flag in full, the audit trail, exports."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlmodel import col

from monitor.codes import DISTRICTS_BY_CODE, resolve_district
from monitor.db import session_scope
from monitor.errors import BadInput
from monitor.flags import get_flag
from monitor.i18n import CATALOG, Message, t
from monitor.models import DesignationEvent, Factory, Flag, FlagAudit, FlagState, Level
from monitor.rules import Severity
from monitor.rules.policy import RULE_IDS


@dataclass(frozen=True)
class FlagRow:
    id: int
    rule_id: str
    clause: str
    severity: str
    state: str
    credit_code: str
    name: str
    level: str
    district_code: str
    summary: str
    first_seen_at: datetime
    last_seen_at: datetime

    def as_json(self) -> dict[str, Any]:
        district = DISTRICTS_BY_CODE.get(self.district_code)
        return {
            "id": self.id,
            "rule_id": self.rule_id,
            "clause": self.clause,
            "severity": self.severity,
            "state": self.state,
            "credit_code": self.credit_code,
            "name": self.name,
            "level": self.level,
            "district_code": self.district_code,
            "district": district.name if district else None,
            "summary": self.summary,
            "first_seen_at": self.first_seen_at.isoformat(),
            "last_seen_at": self.last_seen_at.isoformat(),
        }


def summary_text(key: str, params: dict[str, Any]) -> str:
    """A flag's summary in the reader's language, its coded values spelled out."""
    shown = {
        name: t(f"{name}.{value}") if f"{name}.{value}" in CATALOG else value
        for name, value in params.items()
    }
    try:
        return str(Message(key, **shown))
    except (KeyError, IndexError):  # a message whose parameters changed since it was stored
        return key


def _check_choice(value: str | None, allowed: list[str], option: str) -> None:
    if value is not None and value not in allowed:
        raise BadInput(f"{option}: unknown value {value!r} (one of: {', '.join(allowed)})")


def list_flags(
    engine: Engine,
    *,
    state: str | None = None,
    rule: str | None = None,
    district: str | None = None,
    level: str | None = None,
    severity: str | None = None,
    limit: int | None = 100,
) -> list[FlagRow]:
    """Flags, newest first, filtered as the CLI's options say."""
    _check_choice(state, [s.value for s in FlagState], "--state")
    _check_choice(rule, list(RULE_IDS), "--rule")
    _check_choice(severity, [s.value for s in Severity], "--severity")
    _check_choice(level, [lv.value for lv in Level], "--level")
    query = (
        select(
            col(Flag.id),
            col(Flag.rule_id),
            col(Flag.clause),
            col(Flag.severity),
            col(Flag.state),
            col(Factory.credit_code),
            col(Factory.name),
            col(Factory.level),
            col(Factory.district_code),
            col(Flag.summary_key),
            col(Flag.summary_params),
            col(Flag.first_seen_at),
            col(Flag.last_seen_at),
        )
        .join(Factory, col(Factory.id) == col(Flag.factory_id))
        .order_by(col(Flag.id).desc())
    )
    if state:
        query = query.where(col(Flag.state) == state)
    if rule:
        query = query.where(col(Flag.rule_id) == rule)
    if severity:
        query = query.where(col(Flag.severity) == severity)
    if level:
        query = query.where(col(Factory.level) == level)
    if district:
        resolved = resolve_district(district)
        if resolved is None:
            raise BadInput(Message("district.unknown", value=district))
        query = query.where(col(Factory.district_code) == resolved.code)
    if limit:
        query = query.limit(limit)
    with session_scope(engine) as session:
        return [
            FlagRow(
                id=row[0],
                rule_id=row[1],
                clause=row[2],
                severity=row[3],
                state=row[4],
                credit_code=row[5],
                name=row[6],
                level=row[7],
                district_code=row[8],
                summary=summary_text(row[9], row[10]),
                first_seen_at=row[11],
                last_seen_at=row[12],
            )
            for row in session.execute(query)
        ]


def flag_detail(engine: Engine, flag_id: int) -> dict[str, Any]:
    with session_scope(engine) as session:
        flag = get_flag(session, flag_id)
        factory = session.get(Factory, flag.factory_id)
        assert factory is not None
        trail = list(
            session.scalars(
                select(FlagAudit)
                .where(col(FlagAudit.flag_id) == flag_id)
                .order_by(col(FlagAudit.id))
            )
        )
        return {
            "id": flag.id,
            "rule_id": flag.rule_id,
            "clause": flag.clause,
            "severity": flag.severity,
            "state": flag.state,
            "credit_code": factory.credit_code,
            "name": factory.name,
            "level": factory.level,
            "district_code": factory.district_code,
            "summary": summary_text(flag.summary_key, flag.summary_params),
            "evidence_key": flag.evidence_key,
            "evidence": flag.evidence,
            "first_seen_at": flag.first_seen_at.isoformat(),
            "last_seen_at": flag.last_seen_at.isoformat(),
            "audit": [audit_json(entry) for entry in trail],
        }


def audit_json(entry: FlagAudit) -> dict[str, Any]:
    return {
        "at": entry.at.isoformat(),
        "actor": entry.actor,
        "from": entry.from_state,
        "to": entry.to_state,
        "reason": entry.reason,
    }


def audit_trail(
    engine: Engine, *, credit_code: str | None = None, accept_codes: list[str] | None = None
) -> list[dict[str, Any]]:
    """Every decision and transition, oldest first: flag audit rows and designation events."""
    from monitor.registry import find_factory

    with session_scope(engine) as session:
        factory_id = None
        if credit_code:
            factory_id = find_factory(session, credit_code, accept_codes=accept_codes or []).id
        flags = (
            select(FlagAudit, col(Flag.rule_id), col(Factory.credit_code))
            .join(Flag, col(Flag.id) == col(FlagAudit.flag_id))
            .join(Factory, col(Factory.id) == col(Flag.factory_id))
        )
        events = select(DesignationEvent, col(Factory.credit_code)).join(
            Factory, col(Factory.id) == col(DesignationEvent.factory_id)
        )
        if factory_id is not None:
            flags = flags.where(col(Flag.factory_id) == factory_id)
            events = events.where(col(DesignationEvent.factory_id) == factory_id)
        entries = [
            {
                "at": audit.at,
                "actor": audit.actor,
                "credit_code": code,
                "subject": f"flag {audit.flag_id} ({rule})",
                "change": f"{audit.from_state or '—'} → {audit.to_state}",
                "reason": audit.reason,
            }
            for audit, rule, code in session.execute(flags)
        ] + [
            {
                "at": event.recorded_at,
                "actor": event.actor,
                "credit_code": code,
                "subject": f"designation {event.kind}",
                "change": t(f"event.{event.kind}"),
                "reason": event.reason or event.reference or "",
            }
            for event, code in session.execute(events)
        ]
    entries.sort(key=lambda entry: entry["at"])
    return [{**entry, "at": entry["at"].isoformat()} for entry in entries]


EXPORT_COLUMNS = (
    "id",
    "credit_code",
    "name",
    "level",
    "district",
    "rule_id",
    "clause",
    "severity",
    "state",
    "summary",
    "first_seen_at",
    "last_seen_at",
)


def export_flags(engine: Engine, out: Path, fmt: str) -> int:
    """Write every flag to CSV (UTF-8 with BOM, for Excel) or XLSX; Chinese headers by default."""
    if fmt not in ("csv", "xlsx"):
        raise BadInput(f"--format: {fmt!r} is not csv or xlsx")
    rows = list_flags(engine, limit=None)
    headers = [t(f"export.{column}") for column in EXPORT_COLUMNS]
    table = []
    for row in rows:
        data = row.as_json()
        data["level"] = t(f"level.{row.level}")
        data["state"] = t(f"state.{row.state}")
        data["severity"] = t(f"severity.{row.severity}")
        table.append([data[column] for column in EXPORT_COLUMNS])
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    if fmt == "csv":
        with partial.open("w", encoding="utf-8-sig", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(headers)
            writer.writerows(table)
    else:
        from openpyxl import Workbook

        book = Workbook(write_only=True)
        sheet = book.create_sheet(t("export.sheet"))
        sheet.append(headers)
        for line in table:
            sheet.append(line)
        book.save(partial)
    partial.replace(out)  # no half-written report under the real name
    return len(table)
