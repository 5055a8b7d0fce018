"""`sfm factories`: the register of designated factories, through the daemon's API
(monitor/api/factories.py); this module only renders its answers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from monitor.cli.common import api, console, pages, print_json, say, stream_json
from monitor.codes import DISTRICTS_BY_CODE
from monitor.i18n import Message, language, t

app = typer.Typer(help="The register of designated factories.", no_args_is_help=True)

# the API's largest page of the register: each page is one ordered query, so a register of
# 100,000 is read in ten of them rather than a hundred
REGISTER_PAGE = 10_000

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON only.")]


def _district_name(code: str) -> str:
    district = DISTRICTS_BY_CODE.get(code)
    if district is None:
        return code
    return district.name if language() == "zh" else district.pinyin


def summary_text(report: dict[str, Any]) -> str:
    """An import's outcome in one sentence, from the API's report."""
    changed = bool(report["added"] or report["updated"])
    text = t(
        "import.summary" if changed else "import.nothing_changed",
        file=report["file"],
        added=len(report["added"]),
        updated=len(report["updated"]),
        unchanged=report["unchanged"],
    )
    return f"{text} {t('import.dry_run')}" if report["dry_run"] else text


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
    # the file is opened here, with the caller's own rights, and sent as the body
    report = api(ctx).upload("/factories/import", file, filename=file.name, dry_run=dry_run)
    if as_json:
        print_json(report)
        return
    say(summary_text(report))
    for code, changes in report["updated"].items():
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
    rows = pages(api(ctx), "/factories", page=REGISTER_PAGE, district=district, level=level)
    if as_json:
        stream_json(rows)
        return
    factories = list(rows)
    from rich.table import Table

    table = Table(title=t("list.title"), caption=t("list.count", count=len(factories)))
    for key in ("credit_code", "name", "level", "district", "designated_on", "status"):
        table.add_column(t(f"col.{key}"), no_wrap=key != "name", overflow="fold")
    for factory in factories:
        table.add_row(
            factory["credit_code"],
            factory["name"],
            t(f"level.{factory['level']}"),
            _district_name(factory["district_code"]),
            factory["designated_on"],
            t(f"status.{factory['status']}")
            + (f" {factory['revoked_on']}" if factory["revoked_on"] else ""),
        )
    console().print(table)


@app.command("show")
def show(ctx: typer.Context, code: str, as_json: JsonOption = False) -> None:
    """One factory with its designation history."""
    factory = api(ctx).get(f"/factories/{_segment(code)}")
    if as_json:
        print_json(factory)
        return
    out = console()
    from rich.table import Table

    card = Table.grid(padding=(0, 2))
    card.add_column(style="bold")
    card.add_column()
    card.add_row(t("col.credit_code"), factory["credit_code"])
    card.add_row(t("col.name"), factory["name"])
    card.add_row(t("col.level"), t(f"level.{factory['level']}"))
    card.add_row(t("col.district"), _district_name(factory["district_code"]))
    card.add_row(t("col.designated_on"), factory["designated_on"])
    card.add_row(t("col.registered_address"), factory["registered_address"] or "—")
    card.add_row(t("col.status"), t(f"status.{factory['status']}"))
    out.print(card)
    designations = Table(title=t("col.designations"))
    for key in ("level", "factory", "district", "designated_on", "reference", "status"):
        designations.add_column(t(f"col.{key}"))
    for held in factory["designations"]:
        designations.add_row(
            t(f"level.{held['level']}"),
            held["factory"] or factory["name"],
            _district_name(held["district_code"]),
            held["designated_on"],
            held["reference"] or "—",
            t(f"status.{held['status']}"),
        )
    out.print(designations)
    history = Table()
    for key in ("event", "occurred_on", "recorded_at", "actor", "reference", "details"):
        history.add_column(t(f"col.{key}"))
    for event in factory["events"]:
        history.add_row(
            t(f"event.{event['kind']}"),
            event["occurred_on"],
            _local(event["recorded_at"]),
            event["actor"],
            event["reference"] or "",
            _event_details(event),
        )
    out.print(history)


def _local(iso: str) -> str:
    from datetime import datetime

    from monitor.clock import beijing_text

    return beijing_text(datetime.fromisoformat(iso))


def _event_details(event: dict[str, Any]) -> str:
    details = event["details"] or {}
    if event["kind"] == "renamed":
        return f"{details.get('from')} → {details.get('to')}"
    if event["kind"] == "updated":
        changes = details.get("changes", {})
        return "; ".join(f"{name}: {old} → {new}" for name, (old, new) in changes.items())
    parts = [event["reason"] or "", event["source"] or ""]
    return " ".join(part for part in parts if part)


def _segment(code: str) -> str:
    """A credit code as one segment of the path (whatever staff typed; the API judges it)."""
    from urllib.parse import quote

    return quote(code.strip() or "-", safe="")


@app.command("rename")
def rename(
    ctx: typer.Context,
    code: str,
    name: Annotated[str, typer.Option("--name", help="The new registered name.")],
    approved_on: Annotated[str, typer.Option("--approved-on", help="Date the bureau approved.")],
    ref: Annotated[str | None, typer.Option("--ref", help="Approval document number.")] = None,
) -> None:
    """Record the municipal bureau's approval of a name change."""
    factory = api(ctx).post(
        f"/factories/{_segment(code)}/rename",
        {"name": name, "approved_on": approved_on, "ref": ref},
    )
    say(
        Message(
            "factory.renamed",
            code=factory["credit_code"],
            old=factory["former_name"],
            new=factory["name"],
        )
    )


@app.command("move")
def move(
    ctx: typer.Context,
    code: str,
    district: Annotated[str, typer.Option("--district", help="The district it moved to.")],
    decided_on: Annotated[str, typer.Option("--decided-on", help="Date of the move.")],
    ref: Annotated[str | None, typer.Option("--ref", help="Document number.")] = None,
) -> None:
    """Record a move inside Beijing (Article 4): routing, scope and filings follow it."""
    factory = api(ctx).post(
        f"/factories/{_segment(code)}/move",
        {"district": district, "decided_on": decided_on, "ref": ref},
    )
    say(
        Message(
            "factory.moved",
            code=factory["credit_code"],
            name=factory["name"],
            former="、".join(_district_name(c) for c in factory["former_districts"]),
            new=_district_name(factory["district_code"]),
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
    factory = api(ctx).post(
        f"/factories/{_segment(code)}/revoke",
        {"decided_on": decided_on, "ref": ref, "reason": reason},
    )
    say(Message("factory.revoked", code=factory["credit_code"], name=factory["name"], ref=ref))
