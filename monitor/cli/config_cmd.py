"""`sfm config`: validate and show the effective configuration."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any

import typer

from monitor.cli.common import print_json, state

if TYPE_CHECKING:
    from monitor.rules.policy import Policy

app = typer.Typer(help="Configuration.", no_args_is_help=True)


@app.command("check")
def check(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="JSON only.")] = False,
) -> None:
    """Validate the config and print it with secrets masked."""
    from monitor.alerts.authorities import load_authorities, unparseable_urls
    from monitor.config import SHORT_SECRET, short_secrets
    from monitor.errors import ConfigError
    from monitor.i18n import Message

    loaded = state(ctx).config
    authorities = load_authorities(loaded)
    raw = tomllib.loads(authorities.path.read_text(encoding="utf-8"))
    weak = sorted({*loaded.short_secrets, *short_secrets(raw, loaded.environ or os.environ)})
    for name in weak:  # on stderr: --json stays machine-readable
        typer.echo(str(Message("config.short_secret", name=name, length=SHORT_SECRET)), err=True)
    broken = unparseable_urls(authorities)
    if broken:
        raise ConfigError(f"{authorities.path}: apprise cannot use these URLs", details=broken)
    measures = _measures(loaded.settings.policy)
    if as_json:
        print_json(
            {
                "path": str(loaded.path) if loaded.path else None,
                "config": loaded.masked,
                "authorities": {key: list(a.masked_urls) for key, a in authorities.by_key.items()},
                "measures": measures,
            }
        )
        return
    source = str(loaded.path) if loaded.path else "(built-in defaults: no config file found)"
    typer.echo(f"# {source}: OK")
    print_json(loaded.masked)
    _show_grading(measures)


def _measures(policies: Mapping[str, Policy]) -> list[dict[str, Any]]:
    """Each block as it will judge: its dates, its text, its clauses and its grading merged
    with the statute, so an operator sees what a block means before it takes effect."""
    from monitor.i18n import language
    from monitor.rules.policy import effective_grading

    return [
        {
            "key": key,
            "title": policy.title,
            "effective_from": str(policy.effective_from),
            "expires_on": str(policy.expires_on) if policy.expires_on else None,
            "text": policy.text or "(monitor/defaults/measures-2025.md)",
            "clauses": {
                ground: clause.reference(language()) for ground, clause in policy.clauses().items()
            },
            "grading": effective_grading(policy),
        }
        for key, policy in sorted(policies.items(), key=lambda item: item[1].effective_from)
    ]


def _show_grading(measures: list[dict[str, Any]]) -> None:
    from rich.table import Table

    from monitor.cli.common import console
    from monitor.i18n import t

    out = console()
    figures = ("deaths", "serious_injuries", "evacuated", "direct_loss_cny")
    for block in measures:
        until = block["expires_on"] or "—"
        table = Table(
            title=t(
                "config.grading_title",
                title=block["title"],
                start=block["effective_from"],
                until=until,
            )
        )
        table.add_column(t("config.grading_category"))
        table.add_column(t("config.grading_grade"))
        for figure in figures:
            table.add_column(t(f"evidence.{figure}"), justify="right")
        for category, grades in block["grading"].items():
            for grade, bounds in grades.items():
                table.add_row(
                    t(f"category.{category}"),
                    t(f"grade.{grade}"),
                    *(
                        "—" if bounds[figure] is None else f"≥ {bounds[figure]:,.0f}"
                        for figure in figures
                    ),
                )
        if not any(any(b.values()) for b in block["grading"]["quality"].values()):
            table.caption = t("config.grading_quality")
        out.print(table)
