"""`sfm audit`: the audit trail, and `sfm audit verify`: its hash chain, walked."""

from __future__ import annotations

from typing import Annotated

import typer

from monitor.cli.common import api, console, print_json, say
from monitor.cli.flags_cmd import local_time, who
from monitor.errors import AuditBroken
from monitor.i18n import Message, t

app = typer.Typer(invoke_without_command=True)


@app.callback()
def audit(
    ctx: typer.Context,
    factory: Annotated[str | None, typer.Option("--factory", help="One credit code.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON only.")] = False,
) -> None:
    """Every decision and flag transition: who, when, from, to, why."""
    if ctx.invoked_subcommand is not None:
        return
    entries = api(ctx).get("/audit", factory=factory)
    if as_json:
        print_json(entries)
        return
    from rich.table import Table

    table = Table(title=t("audit.title"))
    for key in ("at", "actor", "credit_code", "subject", "change", "reason"):
        table.add_column(t(f"audit.col.{key}"), overflow="fold")
    for entry in entries:
        table.add_row(
            local_time(entry["at"]),
            who(entry),
            entry["credit_code"],
            entry["subject_text"],
            entry["change_text"],
            entry["reason_text"],
        )
    console().print(table)


@app.command("verify")
def verify(
    ctx: typer.Context,
    head: Annotated[
        str | None,
        typer.Option("--head", help="A head kept elsewhere (the weekly overview), with --length."),
    ] = None,
    length: Annotated[
        int | None, typer.Option("--length", min=1, help="The chain's length beside that head.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON only.")] = False,
) -> None:
    """Walk the audit's hash chain; name the first entry changed, removed or out of place."""
    found = api(ctx).get("/audit/verify", head=head, length=length)
    if as_json:
        print_json(found)
    if not found["intact"]:
        raise AuditBroken(
            Message("audit.broken", length=found["length"], problem=found["first_break"] or "")
        )
    if not as_json:
        say(Message("audit.intact", length=found["length"], head=found["head"]))
        if found["unsealed"]:
            say(Message("audit.unsealed", count=found["unsealed"]))
