"""`sfm alerts`, `sfm notify test`: the outbox as staff and operators see and drive it."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from monitor.cli.common import api, console, pages, print_json, say, stream_json
from monitor.errors import BadInput, DeliveryIncomplete
from monitor.i18n import Message, t

app = typer.Typer(
    help="Alerts to the authorities: the outbox and its delivery.", no_args_is_help=True
)
notify_app = typer.Typer(help="Check the notification channels.", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON only.")]


def _report(report: dict[str, Any], as_json: bool) -> None:
    """A dispatch run's report (DispatchReport.as_json), shown; exit 1 unless all went out."""
    if as_json:
        print_json(report)
    else:
        say(
            Message(
                "alerts.dispatched",
                sent=report["sent"],
                retrying=report["retrying"],
                failed=report["failed"],
            )
        )
        for problem in report["config_errors"]:
            say(Message("alerts.config_error", detail=problem))
    if report["retrying"] or report["failed"] or report["config_errors"]:
        raise DeliveryIncomplete(Message("alerts.incomplete"))


@app.command("list")
def list_(
    ctx: typer.Context,
    failed: Annotated[bool, typer.Option("--failed", help="Only alerts that gave up.")] = False,
    limit: Annotated[int, typer.Option("--limit", min=0, help="0: all")] = 100,
    as_json: JsonOption = False,
) -> None:
    """The outbox, newest first."""
    listed = pages(api(ctx), "/alerts", limit, failed=failed)
    if as_json:
        stream_json(listed)
        return
    from rich.table import Table

    rows = list(listed)
    table = Table(title=t("alerts.title"), caption=t("flags.count", count=len(rows)))
    for key in ("id", "kind", "authority", "status", "flag_id", "attempts", "subject", "error"):
        table.add_column(t(f"alerts.col.{key}"), overflow="fold")
    for row in rows:
        table.add_row(
            str(row["id"]),
            row["kind"],
            row["authority_name"],
            t(f"alert_status.{row['status']}"),
            str(row["flag_id"] or "—"),
            str(row["attempts"]),
            row["subject"] or "—",
            row["last_error"] or "",
        )
    console().print(table)


@app.command("dispatch")
def dispatch(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Send everything due now, then exit: 0 when all went out, 1 when any did not."""
    _report(api(ctx).post("/alerts/dispatch"), as_json)


@app.command("retry")
def retry(
    ctx: typer.Context,
    alert_id: Annotated[int | None, typer.Argument(metavar="[ID]")] = None,
    failed: Annotated[bool, typer.Option("--failed", help="Every failed alert.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Give failed alerts a new retry budget and send them now."""
    if (alert_id is None) == (not failed):
        raise BadInput(Message("alerts.retry_usage"))
    path = "/alerts/retry" if alert_id is None else f"/alerts/{alert_id}/retry"
    _report(api(ctx).post(path), as_json)


@app.command("digest")
def digest(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Bundle held review/action alerts into one digest per authority and send them."""
    _report(api(ctx).post("/alerts/digest"), as_json)


@app.command("remind")
def remind(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Remind about open flags past their deadline; escalate the oldest; send."""
    _report(api(ctx).post("/alerts/remind"), as_json)


@notify_app.command("test")
def notify_test(
    ctx: typer.Context,
    authority: Annotated[str, typer.Argument(help="municipal, ops, or a district (code/name).")],
    as_json: JsonOption = False,
) -> None:
    """Send a test message to one authority's URLs and report each URL's result."""
    results = api(ctx).post("/notify/test", {"authority": authority})
    if as_json:
        print_json(results)
    else:
        for line in results["urls"]:
            say(f"[{line['index']}] {line['url']}: {line['status']}  {line['detail']}")
    if results["status"] != "sent":
        raise DeliveryIncomplete(Message("alerts.test_failed", authority=results["authority"]))
