"""Read-side views for staff: flag lists, one flag in full, the audit trail, exports."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlmodel import col

from monitor.db import session_scope
from monitor.errors import BadInput
from monitor.flag_list import list_flags, summary_text
from monitor.flags import get_flag
from monitor.i18n import t
from monitor.models import DesignationEvent, Factory, Flag, FlagAudit


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
    rows = list_flags(engine.url.render_as_string(hide_password=False), limit=None)
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
