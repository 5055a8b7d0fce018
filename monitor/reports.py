"""Read-side views for staff: flag lists, one flag in full, the audit trail, exports."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from monitor.calendar import Quarter
from monitor.clauses import reference
from monitor.clock import beijing_text
from monitor.errors import BadInput
from monitor.flags.book import get_flag
from monitor.flags.listing import list_flags
from monitor.flags.store import audit_entries, decisions_of, open_flags_of, trail_of
from monitor.i18n import Message, audit_reason, flag_summary, language, t
from monitor.register.store import (
    basic_filings,
    credit_codes,
    designation_events,
    events_of,
    factory_by_id,
    find_factory,
)
from monitor.rules.policy import PolicyChoice
from monitor.storage.db import session_scope
from monitor.storage.models import FlagAudit


def flag_detail(
    engine: Engine, flag_id: int, measures: PolicyChoice | None = None
) -> dict[str, Any]:
    """One flag, its evidence (with what is known of it since: `flag_evidence`) and its trail."""
    from monitor.alerts.context import flag_evidence

    with session_scope(engine) as session:
        flag = get_flag(session, flag_id)
        factory = factory_by_id(session, flag.factory_id)
        trail = trail_of(session, flag_id)
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
            "summary": flag_summary(flag.summary_key, flag.summary_params),
            "evidence_key": flag.evidence_key,
            "evidence": flag_evidence(flag, measures),
            "unlisted_since": str(flag.unlisted_since) if flag.unlisted_since else None,
            "first_seen_at": flag.first_seen_at.isoformat(),
            "last_seen_at": flag.last_seen_at.isoformat(),
            "audit": [audit_json(entry) for entry in trail],
        }


def change_text(from_state: str | None, to_state: str) -> str:
    """An audit entry's change as a reader sees it; a note moves nothing."""
    if from_state == to_state:
        return t("audit.note")
    return f"{t(f'state.{from_state}')} → {t(f'state.{to_state}')}"


def audit_json(entry: FlagAudit) -> dict[str, Any]:
    return {
        "at": entry.at.isoformat(),
        "actor": entry.actor,
        "actor_name": entry.actor_name,
        "from": entry.from_state,
        "to": entry.to_state,
        "reason": entry.reason,
    }


def audit_trail(
    engine: Engine, *, credit_code: str | None = None, accept_codes: list[str] | None = None
) -> list[dict[str, Any]]:
    """Every decision and transition, oldest first: flag audit rows and designation events."""
    with session_scope(engine) as session:
        factory_id = None
        if credit_code:
            factory_id = find_factory(session, credit_code, accept_codes=accept_codes or []).id
        flag_entries = audit_entries(session, factory_id)
        codes = credit_codes(session, (owner for _, _, owner in flag_entries))
        events = designation_events(session, factory_id)
        entries: list[dict[str, Any]] = [
            {
                "at": audit.at,
                "actor": audit.actor,
                "actor_name": audit.actor_name,
                "credit_code": codes[owner],
                "subject": f"flag {audit.flag_id} ({rule})",
                "change": f"{audit.from_state or '—'} → {audit.to_state}",
                "reason": audit.reason,
                # what a reader of the table sees
                "subject_text": t("audit.flag_subject", id=audit.flag_id, rule=t(f"rule.{rule}")),
                "change_text": change_text(audit.from_state, audit.to_state),
                "reason_text": audit_reason(audit.reason),
            }
            for audit, rule, owner in flag_entries
        ] + [
            {
                "at": event.recorded_at,
                "actor": event.actor,
                "actor_name": event.actor_name,
                "credit_code": code,
                "subject": f"designation {event.kind}",
                "change": t(f"event.{event.kind}"),
                "reason": event.reason or event.reference or "",
                "subject_text": t("audit.designation_subject"),
                "change_text": t(f"event.{event.kind}"),
                "reason_text": event.reason or event.reference or "",
            }
            for event, code in events
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
    check_format(fmt)
    rows = list_flags(engine, limit=None)
    table = []
    for row in rows:
        data = row.as_json()
        data["level"] = t(f"level.{row.level}")
        data["state"] = t(f"state.{row.state}")
        data["severity"] = t(f"severity.{row.severity}")
        data["clause"] = reference(row.clause, language())
        data["first_seen_at"] = beijing_text(row.first_seen_at)
        data["last_seen_at"] = beijing_text(row.last_seen_at)
        table.append([data[column] for column in EXPORT_COLUMNS])
    write_table(out, fmt, t("export.sheet"), [t(f"export.{c}") for c in EXPORT_COLUMNS], table)
    return len(table)


FILING_COLUMNS = (
    "credit_code",
    "name",
    "district",
    "designated_on",
    "designation",
    "open_flags",
    "decisions",
)
DECIDED = ("confirmed", "dismissed", "resolved")


def filings_report(
    engine: Engine, quarter: Quarter, district_code: str | None = None
) -> list[list[Any]]:
    """Article 6: the basic-level filings `quarter`'s report lists (its filing window), their
    open flags and the decisions taken."""
    from monitor.codes import DISTRICTS_BY_CODE

    first, last = quarter.filing_window
    table = []
    with session_scope(engine) as session:
        filed = basic_filings(session, first, last, district_code)
        ids = [factory.id or 0 for _, factory in filed]
        open_flags: dict[int, list[str]] = {}
        for flag in open_flags_of(session, ids):
            summary = flag_summary(flag.summary_key, flag.summary_params)
            open_flags.setdefault(flag.factory_id, []).append(f"#{flag.id} {summary}")
        decisions: dict[int, list[str]] = {}
        for audit, factory_id in decisions_of(session, ids, DECIDED):
            decisions.setdefault(factory_id, []).append(
                f"{beijing_text(audit.at)[:10]} #{audit.flag_id} {t('state.' + audit.to_state)}"
                f"（{audit.actor}）：{audit.reason}"
            )
        for event in events_of(session, ids, ("renamed", "revoked")):
            decisions.setdefault(event.factory_id, []).append(
                f"{event.occurred_on} {t('event.' + event.kind)}（{event.actor}）："
                f"{event.reference or ''} {event.reason or ''}".rstrip()
            )
        for designation, factory in filed:
            district = DISTRICTS_BY_CODE.get(designation.district_code)
            table.append(
                [
                    factory.credit_code,
                    factory.name + (f"（{designation.name}）" if designation.name else ""),
                    district.name if district else designation.district_code,
                    designation.designated_on.isoformat(),
                    t(f"designation.{designation.status}"),
                    "\n".join(open_flags.get(factory.id or 0, [])),
                    "\n".join(decisions.get(factory.id or 0, [])),
                ]
            )
    return table


def export_filings(
    engine: Engine, out: Path, fmt: str, quarter: Quarter, district_code: str | None = None
) -> int:
    """Write the Article 6 filings report; the number of factories in it."""
    check_format(fmt)
    table = filings_report(engine, quarter, district_code)
    headers = [t(f"filings.{column}") for column in FILING_COLUMNS]
    write_table(
        out,
        fmt,
        t("filings.sheet", quarter=quarter_text(quarter)),
        headers,
        table,
        title=filings_title(quarter),
    )
    return len(table)


def quarter_text(quarter: Quarter) -> str:
    """2026年第四季度 (the `--quarter` option keeps the short form, 2026Q4)."""
    return t("quarter.text", year=quarter.year, number=t(f"quarter.{quarter.number}"))


def filings_title(quarter: Quarter) -> str:
    """What a filings report is and which filing dates it covers."""
    first, last = quarter.filing_window
    return t(
        "filings.title",
        quarter=quarter_text(quarter),
        first=str(first),
        last=str(last),
        deadline=str(quarter.filing_deadline),
    )


def check_format(fmt: str) -> None:
    if fmt not in ("csv", "xlsx"):
        raise BadInput(Message("export.bad_format", fmt=fmt))


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def inert(value: Any) -> Any:
    """A cell that a spreadsheet shows as text, never evaluates (DESIGN §5)."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def write_table(
    out: Path,
    fmt: str,
    sheet: str,
    headers: list[str],
    table: list[list[Any]],
    *,
    title: str | None = None,
) -> None:
    """CSV (UTF-8 with BOM, for Excel) or XLSX, written whole under a temporary name first;
    a `title` is a line of its own above the headers."""
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    cells = [[inert(value) for value in line] for line in table]
    if fmt == "csv":
        with partial.open("w", encoding="utf-8-sig", newline="") as handle:
            writer = csv.writer(handle)
            if title:
                writer.writerow([title])
            writer.writerow(headers)
            writer.writerows(cells)
    else:
        from openpyxl import Workbook

        book = Workbook(write_only=True)
        sheet_ = book.create_sheet(sheet[:31])
        if title:
            sheet_.append([title])
        sheet_.append(headers)
        for line in cells:
            sheet_.append(line)
        book.save(partial)
    partial.replace(out)  # no half-written report under the real name
