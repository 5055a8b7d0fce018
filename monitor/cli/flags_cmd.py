"""`sfm flags`, `sfm audit`, `sfm export flags`: staff decide on flags; every decision audited."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from monitor.clauses import reference
from monitor.cli.common import console, print_json, say, state
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
    from monitor.flags.listing import list_flags

    rows = list_flags(
        state(ctx).database_url,
        state=state_,
        rule=rule,
        district=district,
        level=level,
        severity=severity,
        limit=limit or None,
    )
    if as_json:
        print_json([row.as_json() for row in rows])
        return
    from rich.table import Table

    from monitor.codes import DISTRICTS_BY_CODE

    table = Table(title=t("flags.title"), caption=t("flags.count", count=len(rows)))
    for key in ("id", "severity", "state", "clause", "credit_code", "name", "district", "summary"):
        table.add_column(
            t(f"flags.col.{key}"), overflow="fold", no_wrap=key in ("id", "credit_code")
        )
    for row in rows:
        where = DISTRICTS_BY_CODE.get(row.district_code)
        table.add_row(
            str(row.id),
            t(f"severity.{row.severity}"),
            t(f"state.{row.state}"),
            reference(row.clause, language()),
            row.credit_code,
            row.name,
            where.name if where else row.district_code,
            row.summary,
        )
    console().print(table)


@app.command("show")
def show(
    ctx: typer.Context,
    flag_id: Annotated[int, typer.Argument(metavar="ID")],
    as_json: JsonOption = False,
) -> None:
    """One flag: evidence, history and audit trail."""
    from monitor.clock import today_beijing
    from monitor.reports import change_text, flag_detail
    from monitor.rules.policy import measures_in_force

    app = state(ctx)
    measures = measures_in_force(app.config.settings.policy, today_beijing())
    detail = flag_detail(app.engine, flag_id, measures)
    if as_json:
        print_json(detail)
        return
    from rich.table import Table

    card = Table.grid(padding=(0, 2))
    card.add_column(style="bold")
    card.add_column(overflow="fold")
    card.add_row(t("flags.col.id"), str(detail["id"]))
    judge = measures.judge_of(detail["evidence"].get("measures_key"))
    clause = reference(detail["clause"], language(), judge.clauses())
    card.add_row(t("flags.col.rule"), f"{t('rule.' + detail['rule_id'])}（{clause}）")
    card.add_row(t("flags.col.severity"), t(f"severity.{detail['severity']}"))
    card.add_row(t("flags.col.state"), t(f"state.{detail['state']}"))
    card.add_row(t("flags.col.name"), f"{detail['name']}  {detail['credit_code']}")
    card.add_row(t("flags.col.summary"), detail["summary"])
    from monitor.alerts.context import evidence_lines

    for label, value in evidence_lines(detail["evidence"]):
        card.add_row(f"  {label}", str(value))
    out = console()
    out.print(card)
    trail = Table(title=t("flags.audit"))
    for key in ("at", "actor", "change", "reason"):
        trail.add_column(t(f"audit.col.{key}"), overflow="fold")
    for entry in detail["audit"]:
        trail.add_row(
            _local(entry["at"]),
            _who(entry),
            change_text(entry["from"], entry["to"]),
            audit_reason(entry["reason"] or ""),
        )
    out.print(trail)


def _who(entry: dict[str, Any]) -> str:
    """Who decided, as the audit records them: the operator's configured name, with the
    OS login beside it (the system's own entries have only the login, sfm)."""
    name = entry.get("actor_name")
    return f"{name}（{entry['actor']}）" if name else str(entry["actor"])


def _local(iso: str) -> str:
    from datetime import datetime

    from monitor.clock import beijing_text

    return beijing_text(datetime.fromisoformat(iso))


def _decide(ctx: typer.Context, flag_id: int, to_state: str, reason: str) -> None:
    from monitor.decisions import decide
    from monitor.vocabulary import FlagState

    app_state = state(ctx)
    flag, audit = decide(
        app_state.engine,
        flag_id,
        FlagState(to_state),
        operator=app_state.operator,
        reason=reason,
        outbox=app_state.alerting.outbox,
    )
    say(
        Message(
            "flag.moved",
            id=flag.id,
            from_state=t(f"state.{audit.from_state}"),
            to_state=t(f"state.{audit.to_state}"),
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
    from monitor.decisions import add_note

    app_state = state(ctx)
    flag = add_note(app_state.engine, flag_id, operator=app_state.operator, text=text)
    say(Message("flag.noted", id=flag.id))


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
    from monitor.decisions import raise_for

    app_state = state(ctx)
    flag = raise_for(
        app_state.engine,
        code,
        rule,
        operator=app_state.operator,
        reason=reason,
        outbox=app_state.alerting.outbox,
        accept_codes=app_state.accept_codes,
    )
    say(Message("flag.raised", id=flag.id))


def audit(
    ctx: typer.Context,
    factory: Annotated[str | None, typer.Option("--factory", help="One credit code.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Every decision and flag transition: who, when, from, to, why."""
    from monitor.reports import audit_trail

    app_state = state(ctx)
    entries = audit_trail(
        app_state.engine, credit_code=factory, accept_codes=app_state.accept_codes
    )
    if as_json:
        print_json(entries)
        return
    from rich.table import Table

    table = Table(title=t("audit.title"))
    for key in ("at", "actor", "credit_code", "subject", "change", "reason"):
        table.add_column(t(f"audit.col.{key}"), overflow="fold")
    for entry in entries:
        table.add_row(
            _local(entry["at"]),
            _who(entry),
            entry["credit_code"],
            entry["subject_text"],
            entry["change_text"],
            entry["reason_text"],
        )
    console().print(table)


@export_app.command("flags")
def export_flags(
    ctx: typer.Context,
    out: Annotated[Path, typer.Argument(metavar="OUT")],
    fmt: Annotated[
        str | None, typer.Option("--format", help="csv or xlsx (default: from OUT's extension)")
    ] = None,
) -> None:
    """Every flag as a spreadsheet for reports (Chinese headers; SFM_LANG=en for English)."""
    from monitor.reports import export_flags as write
    from monitor.reports import export_target

    app_state = state(ctx)
    with app_state.writing(out) as target:
        count = write(app_state.engine, target, export_target(target, fmt))
    say(Message("export.done", count=count, path=str(out)))


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
    from monitor.calendar import Quarter
    from monitor.codes import resolve_district
    from monitor.errors import BadInput
    from monitor.reports import export_filings as write

    try:
        chosen = Quarter.parse(quarter)
    except ValueError as exc:
        raise BadInput(f"--quarter: {exc}") from exc
    code = None
    if district is not None:
        found = resolve_district(district)
        if found is None:
            raise BadInput("--district: " + t("district.unknown", value=district))
        code = found.code
    from monitor.reports import export_target

    app_state = state(ctx)
    with app_state.writing(out) as draft:
        count = write(app_state.engine, draft, export_target(draft, fmt), chosen, code)
    say(Message("export.done", count=count, path=str(out)))
