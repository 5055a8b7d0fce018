"""`sfm audit`: the audit trail, and `sfm audit verify`: its hash chain, walked."""

from __future__ import annotations

from typing import Annotated

import typer

from monitor.cli import flags_cmd
from monitor.cli.common import print_json, say, state
from monitor.i18n import Message

app = typer.Typer(invoke_without_command=True)


@app.callback()
def audit(
    ctx: typer.Context,
    factory: Annotated[str | None, typer.Option("--factory", help="One credit code.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON only.")] = False,
) -> None:
    """Every decision and flag transition: who, when, from, to, why."""
    if ctx.invoked_subcommand is None:
        flags_cmd.audit(ctx, factory=factory, as_json=as_json)


@app.command("verify")
def verify(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="JSON only.")] = False,
) -> None:
    """Walk the audit's hash chain; name the first entry changed, removed or out of place."""
    from monitor.errors import AuditBroken
    from monitor.storage.audit_chain import verify as walk

    found = walk(state(ctx).engine)
    if as_json:
        print_json(
            {
                "intact": found.intact,
                "length": found.length,
                "head": found.head,
                "first_break": found.first_break,
                "unsealed": found.unsealed,
            }
        )
    if not found.intact:
        raise AuditBroken(
            Message("audit.broken", length=found.length, problem=found.first_break or "")
        )
    if not as_json:
        say(Message("audit.intact", length=found.length, head=found.head))
        if found.unsealed:
            say(Message("audit.unsealed", count=found.unsealed))
