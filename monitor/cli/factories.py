"""`sfm factories`: the register of designated factories."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from monitor.cli.common import (
    console,
    parse_date_option,
    print_json,
    say,
    state,
    stream_json,
)
from monitor.clock import beijing_text
from monitor.codes import DISTRICTS_BY_CODE
from monitor.i18n import Message, language, t

if TYPE_CHECKING:
    from monitor.storage.models import Designation, DesignationEvent, Factory

app = typer.Typer(help="The register of designated factories.", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON only.")]


def factory_json(factory: Factory) -> dict[str, Any]:
    district = DISTRICTS_BY_CODE.get(factory.district_code)
    return {
        "credit_code": factory.credit_code,
        "name": factory.name,
        "level": factory.level,
        "district_code": factory.district_code,
        "district": district.name if district else None,
        "designated_on": factory.designated_on,
        "registered_address": factory.registered_address,
        "status": factory.status,
        "revoked_on": factory.revoked_on,
    }


def designation_json(designation: Designation) -> dict[str, Any]:
    return {
        "level": designation.level,
        "factory": designation.name or None,
        "district_code": designation.district_code,
        "designated_on": designation.designated_on,
        "reference": designation.reference,
        "status": designation.status,
        "revoked_on": designation.revoked_on,
    }


def event_json(event: DesignationEvent) -> dict[str, Any]:
    return {
        "kind": event.kind,
        "occurred_on": event.occurred_on,
        "recorded_at": event.recorded_at.isoformat(),
        "actor": event.actor,
        "reference": event.reference,
        "reason": event.reason,
        "source": event.source,
        "details": event.details,
    }


def _district_name(code: str) -> str:
    district = DISTRICTS_BY_CODE.get(code)
    if district is None:
        return code
    return district.name if language() == "zh" else district.pinyin


@app.command("import")
def import_(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="CSV (UTF-8, BOM, GB18030) or XLSX file.")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check and report; write nothing.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Import designated factories (English or Chinese headers), all or nothing."""
    from monitor.register.store import import_factories, summary_text

    app_state = state(ctx)
    operator = app_state.operator
    with app_state.reading(file) as readable:
        report = import_factories(
            app_state.engine,
            readable,
            operator=operator,
            accept_codes=app_state.accept_codes,
            dry_run=dry_run,
        )
    if as_json:
        print_json(report.as_json())
        return
    say(summary_text(report))
    for code, changes in report.updated.items():
        for name, (old, new) in changes.items():
            say(f"  {code} {name}: {old} → {new}")


@app.command("list")
def list_(
    ctx: typer.Context,
    district: Annotated[str | None, typer.Option(help="Code, name or pinyin.")] = None,
    level: Annotated[str | None, typer.Option(help="basic/advanced or 基础级/先进级.")] = None,
    as_json: JsonOption = False,
) -> None:
    """List the register."""
    from monitor.register.store import iter_factories, list_factories

    if as_json:
        listed = iter_factories(state(ctx).engine, district=district, level=level)
        stream_json(factory_json(factory) for factory in listed)
        return
    factories = list_factories(state(ctx).engine, district=district, level=level)
    from rich.table import Table

    table = Table(title=t("list.title"), caption=t("list.count", count=len(factories)))
    for key in ("credit_code", "name", "level", "district", "designated_on", "status"):
        table.add_column(t(f"col.{key}"), no_wrap=key != "name", overflow="fold")
    for factory in factories:
        table.add_row(
            factory.credit_code,
            factory.name,
            t(f"level.{factory.level}"),
            _district_name(factory.district_code),
            factory.designated_on.isoformat(),
            t(f"status.{factory.status}")
            + (f" {factory.revoked_on.isoformat()}" if factory.revoked_on else ""),
        )
    console().print(table)


@app.command("show")
def show(ctx: typer.Context, code: str, as_json: JsonOption = False) -> None:
    """One factory with its designation history."""
    from monitor.register.store import designations_of, factory_history

    app_state = state(ctx)
    factory, events = factory_history(app_state.engine, code, accept_codes=app_state.accept_codes)
    held = designations_of(app_state.engine, code, accept_codes=app_state.accept_codes)
    if as_json:
        print_json(
            factory_json(factory)
            | {"designations": [designation_json(d) for d in held]}
            | {"events": [event_json(e) for e in events]}
        )
        return
    out = console()
    from rich.table import Table

    card = Table.grid(padding=(0, 2))
    card.add_column(style="bold")
    card.add_column()
    card.add_row(t("col.credit_code"), factory.credit_code)
    card.add_row(t("col.name"), factory.name)
    card.add_row(t("col.level"), t(f"level.{factory.level}"))
    card.add_row(t("col.district"), _district_name(factory.district_code))
    card.add_row(t("col.designated_on"), factory.designated_on.isoformat())
    card.add_row(t("col.registered_address"), factory.registered_address or "—")
    card.add_row(t("col.status"), t(f"status.{factory.status}"))
    out.print(card)
    designations = Table(title=t("col.designations"))
    for key in ("level", "factory", "district", "designated_on", "reference", "status"):
        designations.add_column(t(f"col.{key}"))
    for held_one in held:
        designations.add_row(
            t(f"level.{held_one.level}"),
            held_one.name or factory.name,
            _district_name(held_one.district_code),
            held_one.designated_on.isoformat(),
            held_one.reference or "—",
            t(f"status.{held_one.status}"),
        )
    out.print(designations)
    history = Table()
    for key in ("event", "occurred_on", "recorded_at", "actor", "reference", "details"):
        history.add_column(t(f"col.{key}"))
    for event in events:
        history.add_row(
            t(f"event.{event.kind}"),
            event.occurred_on.isoformat(),
            beijing_text(event.recorded_at),
            event.actor,
            event.reference or "",
            _event_details(event),
        )
    out.print(history)


def _event_details(event: DesignationEvent) -> str:
    if event.kind == "renamed":
        return f"{event.details.get('from')} → {event.details.get('to')}"
    if event.kind == "updated":
        changes = event.details.get("changes", {})
        return "; ".join(f"{name}: {old} → {new}" for name, (old, new) in changes.items())
    parts = [event.reason or "", event.source or ""]
    return " ".join(part for part in parts if part)


@app.command("rename")
def rename(
    ctx: typer.Context,
    code: str,
    name: Annotated[str, typer.Option("--name", help="The new registered name.")],
    approved_on: Annotated[str, typer.Option("--approved-on", help="Date the bureau approved.")],
    ref: Annotated[str | None, typer.Option("--ref", help="Approval document number.")] = None,
) -> None:
    """Record the municipal bureau's approval of a name change."""
    from monitor.decisions import rename_factory

    app_state = state(ctx)
    factory, former = rename_factory(
        app_state.engine,
        code,
        new_name=name,
        approved_on=parse_date_option(approved_on, "--approved-on"),
        reference=ref,
        operator=app_state.operator,
        outbox=app_state.alerting.outbox,
        accept_codes=app_state.accept_codes,
    )
    say(Message("factory.renamed", code=factory.credit_code, old=former, new=factory.name))


@app.command("move")
def move(
    ctx: typer.Context,
    code: str,
    district: Annotated[str, typer.Option("--district", help="The district it moved to.")],
    decided_on: Annotated[str, typer.Option("--decided-on", help="Date of the move.")],
    ref: Annotated[str | None, typer.Option("--ref", help="Document number.")] = None,
) -> None:
    """Record a move inside Beijing (Article 4): routing, scope and filings follow it."""
    from monitor.decisions import move_factory

    app_state = state(ctx)
    factory, former = move_factory(
        app_state.engine,
        code,
        district=district,
        decided_on=parse_date_option(decided_on, "--decided-on"),
        reference=ref,
        operator=app_state.operator,
        outbox=app_state.alerting.outbox,
        accept_codes=app_state.accept_codes,
    )
    say(
        Message(
            "factory.moved",
            code=factory.credit_code,
            name=factory.name,
            former="、".join(_district_name(c) for c in former),
            new=_district_name(factory.district_code),
        )
    )


@app.command("revoke")
def revoke(
    ctx: typer.Context,
    code: str,
    decided_on: Annotated[str, typer.Option("--decided-on", help="Date of the decision.")],
    ref: Annotated[str, typer.Option("--ref", help="Decision document number.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (the clause and facts).")],
) -> None:
    """Record the revocation of a designation."""
    from monitor.decisions import revoke_factory

    app_state = state(ctx)
    factory = revoke_factory(
        app_state.engine,
        code,
        decided_on=parse_date_option(decided_on, "--decided-on"),
        reference=ref,
        reason=reason,
        operator=app_state.operator,
        outbox=app_state.alerting.outbox,
        accept_codes=app_state.accept_codes,
    )
    say(Message("factory.revoked", code=factory.credit_code, name=factory.name, ref=ref))
