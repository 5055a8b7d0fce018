"""`sfm flags`, `sfm export`: staff decide on flags (every decision audited), and reports."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from monitor.clauses import reference
from monitor.cli.common import api, console, pages, print_json, say, stream_json
from monitor.errors import BadInput
from monitor.i18n import Message, audit_reason, language, t

app = typer.Typer(
    help="Flags raised by the rules, and staff decisions on them.", no_args_is_help=True
)
export_app = typer.Typer(help="Reports for officials.", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON only.")]
ReasonOption = Annotated[str, typer.Option("--reason", help="Why (required, kept in the audit).")]


@app.command("list")
def list_(
    ctx: typer.Context,
    state_: Annotated[
        str | None, typer.Option("--state", help="待处理/已确认/… or open/confirmed/…")
    ] = None,
    rule: Annotated[str | None, typer.Option("--rule", help="A rule's name or id.")] = None,
    district: Annotated[str | None, typer.Option("--district")] = None,
    level: Annotated[
        str | None, typer.Option("--level", help="基础级/先进级 or basic/advanced")
    ] = None,
    severity: Annotated[
        str | None, typer.Option("--severity", help="疑似撤销情形/待核查/待办理 or revocation/…")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=0, help="0: all")] = 100,
    as_json: JsonOption = False,
) -> None:
    """Flags, newest first."""
    rows = pages(
        api(ctx),
        "/flags",
        limit,
        state=state_,
        rule=rule,
        district=district,
        level=level,
        severity=severity,
    )
    if as_json:
        stream_json(rows)
        return
    from rich.table import Table

    shown = list(rows)
    table = Table(title=t("flags.title"), caption=t("flags.count", count=len(shown)))
    for key in ("id", "severity", "state", "clause", "credit_code", "name", "district", "summary"):
        table.add_column(
            t(f"flags.col.{key}"), overflow="fold", no_wrap=key in ("id", "credit_code")
        )
    for row in shown:
        table.add_row(
            str(row["id"]),
            t(f"severity.{row['severity']}"),
            t(f"state.{row['state']}"),
            reference(row["clause"], language()),
            row["credit_code"],
            row["name"],
            row["district"] or row["district_code"],
            row["summary"],
        )
    console().print(table)


@app.command("show")
def show(
    ctx: typer.Context,
    flag_id: Annotated[int, typer.Argument(metavar="ID")],
    as_json: JsonOption = False,
) -> None:
    """One flag: evidence, history and audit trail."""
    detail = api(ctx).get(f"/flags/{flag_id}")
    if as_json:
        print_json(detail)
        return
    from rich.table import Table

    card = Table.grid(padding=(0, 2))
    card.add_column(style="bold")
    card.add_column(overflow="fold")
    card.add_row(t("flags.col.id"), str(detail["id"]))
    rule = t("rule." + detail["rule_id"])
    card.add_row(t("flags.col.rule"), f"{rule}（{detail['clause_reference']}）")
    card.add_row(t("flags.col.severity"), t(f"severity.{detail['severity']}"))
    card.add_row(t("flags.col.state"), t(f"state.{detail['state']}"))
    card.add_row(t("flags.col.name"), f"{detail['name']}  {detail['credit_code']}")
    card.add_row(t("flags.col.summary"), detail["summary"])
    for label, value in detail["evidence_lines"]:
        card.add_row(f"  {label}", value)
    out = console()
    out.print(card)
    trail = Table(title=t("flags.audit"))
    for key in ("at", "actor", "change", "reason"):
        trail.add_column(t(f"audit.col.{key}"), overflow="fold")
    for entry in detail["audit"]:
        trail.add_row(
            local_time(entry["at"]),
            who(entry),
            entry["change_text"],
            audit_reason(entry["reason"] or ""),
        )
    out.print(trail)


def who(entry: dict[str, Any]) -> str:
    """Who decided, as the audit records them: the operator's configured name, with the
    OS login beside it (the system's own entries have only the login, sfm)."""
    name = entry.get("actor_name")
    return f"{name}（{entry['actor']}）" if name else str(entry["actor"])


def local_time(iso: str) -> str:
    from datetime import datetime

    from monitor.clock import beijing_text

    return beijing_text(datetime.fromisoformat(iso))


def _decide(ctx: typer.Context, flag_id: int, to_state: str, reason: str) -> None:
    """A decision sent with the state it was made from, as read just now: if the flag
    moved meanwhile (another office, a sweep), the daemon refuses it (exit 3)."""
    client = api(ctx)
    seen = client.get(f"/flags/{flag_id}")["state"]
    decided = client.post(
        f"/flags/{flag_id}/decisions", {"to": to_state, "from": seen, "reason": reason}
    )
    say(
        Message(
            "flag.moved",
            id=decided["id"],
            from_state=t(f"state.{decided['audit']['from']}"),
            to_state=t(f"state.{decided['audit']['to']}"),
        )
    )


@app.command("confirm")
def confirm(
    ctx: typer.Context, flag_id: Annotated[int, typer.Argument(metavar="ID")], reason: ReasonOption
) -> None:
    """Confirm an open flag: the condition is real and the bureau must act."""
    _decide(ctx, flag_id, "confirmed", reason)


@app.command("dismiss")
def dismiss(
    ctx: typer.Context, flag_id: Annotated[int, typer.Argument(metavar="ID")], reason: ReasonOption
) -> None:
    """Dismiss an open flag: it stays dismissed while its evidence is unchanged."""
    _decide(ctx, flag_id, "dismissed", reason)


@app.command("reopen")
def reopen(
    ctx: typer.Context, flag_id: Annotated[int, typer.Argument(metavar="ID")], reason: ReasonOption
) -> None:
    """Reopen a dismissed or cleared flag."""
    _decide(ctx, flag_id, "open", reason)


@app.command("note")
def note(
    ctx: typer.Context,
    flag_id: Annotated[int, typer.Argument(metavar="ID")],
    text: Annotated[str, typer.Option("--text", help="What your office found.")],
) -> None:
    """Add what your office found to a flag, without deciding it."""
    noted = api(ctx).post(f"/flags/{flag_id}/notes", {"text": text})
    say(Message("flag.noted", id=noted["id"]))


@app.command("raise")
def raise_(
    ctx: typer.Context,
    code: Annotated[str, typer.Argument(metavar="CODE")],
    rule: Annotated[
        str, typer.Option("--rule", help="Any clause's rule, e.g. art12.1-false-information.")
    ],
    reason: ReasonOption,
) -> None:
    """Raise a flag under any clause, for evidence that reached you outside the connectors."""
    raised = api(ctx).post("/flags", {"credit_code": code, "rule": rule, "reason": reason})
    say(Message("flag.raised", id=raised["id"]))


@export_app.command("flags")
def export_flags(
    ctx: typer.Context,
    out: Annotated[Path, typer.Argument(metavar="OUT")],
    fmt: Annotated[
        str | None, typer.Option("--format", help="csv or xlsx (default: from OUT's extension)")
    ] = None,
) -> None:
    """Every flag as a spreadsheet for reports (Chinese headers; SFM_LANG=en for English)."""
    result = api(ctx).download("/exports/flags", out, format=export_format(out, fmt))
    say(Message("export.done", count=result["count"], path=str(out)))


@export_app.command("filings")
def export_filings(
    ctx: typer.Context,
    out: Annotated[Path, typer.Argument(metavar="OUT")],
    quarter: Annotated[str, typer.Option("--quarter", help="e.g. 2026Q4")],
    district: Annotated[
        str | None, typer.Option("--district", help="One district (code or name).")
    ] = None,
    fmt: Annotated[
        str | None, typer.Option("--format", help="csv or xlsx (default: from OUT's extension)")
    ] = None,
) -> None:
    """Article 6: basic-level factories filed in a quarter, their open flags and decisions."""
    result = api(ctx).download(
        "/exports/filings",
        out,
        format=export_format(out, fmt),
        quarter=quarter,
        district=district,
    )
    say(Message("export.done", count=result["count"], path=str(out)))


EXPORT_FORMATS = {".csv": "csv", ".xlsx": "xlsx"}


def export_format(out: Path, fmt: str | None) -> str:
    """The format to write `out` in: as given, else from its extension; never one that
    contradicts the extension, and never into a folder that does not exist. Decided here,
    before asking the daemon for anything: only this user knows where OUT goes."""
    suffix = out.suffix.lower()
    named = EXPORT_FORMATS.get(suffix)
    if fmt is not None:
        if fmt not in EXPORT_FORMATS.values():
            raise BadInput(Message("export.bad_format", fmt=fmt))
        if named is not None and named != fmt:
            raise BadInput(Message("export.format_mismatch", fmt=fmt, suffix=suffix))
    elif named is None:
        raise BadInput(Message("export.unknown_format", name=out.name))
    if not out.parent.is_dir():
        raise BadInput(Message("export.no_folder", folder=str(out.parent)))
    return fmt or str(named)
