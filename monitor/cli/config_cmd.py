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
    from monitor.alerts.authorities import load_authorities, unparseable_urls
    from monitor.errors import ConfigError

    loaded = state(ctx).config
    authorities = load_authorities(loaded)
    broken = unparseable_urls(authorities)
    if broken:
        raise ConfigError(f"{authorities.path}: apprise cannot use these URLs", details=broken)
    if as_json:
        print_json(
            {
                "path": str(loaded.path) if loaded.path else None,
                "config": loaded.masked,
                "authorities": {key: list(a.masked_urls) for key, a in authorities.by_key.items()},
            }
        )
        return
    source = str(loaded.path) if loaded.path else "(built-in defaults: no config file found)"
    typer.echo(f"# {source}: OK")
    print_json(loaded.masked)
