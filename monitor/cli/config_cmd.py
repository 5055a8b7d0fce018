"""`sfm config`: validate and show the effective configuration."""

from __future__ import annotations

from typing import Annotated

import typer

from monitor.cli.common import print_json, state

app = typer.Typer(help="Configuration.", no_args_is_help=True)


@app.command("check")
def check(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="JSON only.")] = False,
) -> None:
    """Validate the config and print it with secrets masked."""
    loaded = state(ctx).config
    if as_json:
        print_json({"path": str(loaded.path) if loaded.path else None, "config": loaded.masked})
        return
    source = str(loaded.path) if loaded.path else "(built-in defaults: no config file found)"
    typer.echo(f"# {source}: OK")
    print_json(loaded.masked)
