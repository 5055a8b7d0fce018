"""`sfm check` (a sweep now) and `sfm simulator` (the local upstream on its own)."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Annotated, Any

import typer

from monitor.cli.common import api, console, print_json, say, state
from monitor.i18n import CATALOG, Message, t

if TYPE_CHECKING:
    from monitor.api.client import Api

# how often `sfm check` asks how far its sweep got
POLL_S = 0.4


def check(
    ctx: typer.Context,
    factory: Annotated[str | None, typer.Option("--factory", help="One credit code.")] = None,
    topic: Annotated[
        str | None, typer.Option("--topic", help="registration, credit or safety.")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the summary as JSON only.")
    ] = False,
) -> None:
    """Run the connectors now over every active factory (or one) and store what they say."""
    client = api(ctx)
    # a job of the daemon (or, without one, of this process): refused while one runs
    sweep = client.post("/sweeps", {"factory": factory, "topic": topic})
    try:
        sweep = _follow(client, sweep, bar=sys.stdout.isatty() and not as_json)
    except KeyboardInterrupt:  # Ctrl-C: the daemon's sweep goes on; this process's stops
        key = "check.left_running" if sweep["in_daemon"] else "check.interrupted"
        print(t(key, id=sweep["id"]), file=sys.stderr)
        raise
    if sweep["state"] == "failed":
        raise _error(sweep["error"])
    if as_json:
        print_json(sweep["result"])
    else:
        _show(sweep["shown"])
    if sweep["error"]:  # done, but incomplete (exit 5)
        raise _error(sweep["error"])


def _follow(client: Api, sweep: dict[str, Any], *, bar: bool) -> dict[str, Any]:
    """The sweep once it ended, asked every POLL_S; a progress bar meanwhile on a terminal."""
    if not bar:
        while sweep["state"] == "running":
            time.sleep(POLL_S)
            sweep = client.get(f"/sweeps/{sweep['id']}")
        return sweep
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console(),
        transient=True,
    ) as progress:
        task = progress.add_task(t("check.progress"), total=None)
        while True:
            done = sweep["progress"]
            progress.update(task, completed=done["done"], total=done["total"] or None)
            if sweep["state"] != "running":
                return sweep
            time.sleep(POLL_S)
            sweep = client.get(f"/sweeps/{sweep['id']}")


def _error(error: dict[str, Any]) -> Exception:
    from monitor.api.client import ApiError

    return ApiError(str(error["code"]), str(error["message"]), list(error["details"]))


def _show(shown: dict[str, Any]) -> None:
    """The table of sources and the lines under it, as the API wrote them."""
    from rich.table import Table

    table = Table(title=shown["title"])
    for column in shown["columns"]:
        table.add_column(column["header"], justify=column["justify"])
    for row in shown["rows"]:
        table.add_row(*row)
    console().print(table)
    for line in shown["lines"]:
        say(line)


def simulator(
    ctx: typer.Context,
    port: Annotated[int, typer.Option("--port", help="TCP port on 127.0.0.1.")] = 8765,
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    latency_ms: Annotated[float, typer.Option("--latency-ms")] = 0.0,
    error_rate: Annotated[float, typer.Option("--error-rate", min=0.0, max=1.0)] = 0.0,
    rate_limit: Annotated[int | None, typer.Option("--rate-limit", min=1)] = None,
    synthesize: Annotated[
        bool, typer.Option("--synthesize", help="Answer unknown codes with an active company.")
    ] = False,
) -> None:
    """Serve the demo upstream over HTTP until interrupted."""
    import contextlib

    from connectors.simulator import Behaviour, Simulator, load_upstream, serve

    config = state(ctx).config
    data = load_upstream(config.simulator_data)
    behaviour = Behaviour(
        latency_ms=latency_ms,
        error_rate=error_rate,
        rate_limit_per_s=rate_limit,
        synthesize=synthesize,
    )
    typer.echo(
        f"sfm simulator on http://{host}:{port} ({len(data.get('factories', {}))} factories)",
        err=True,
    )
    with contextlib.suppress(KeyboardInterrupt):
        serve(Simulator(data, behaviour), host, port)


def _when(measures: dict[str, Any]) -> str:
    """今日到期 on the last day, 已于 … 到期 after it, 剩余 N 天 before: never negative."""
    if measures["expired"]:
        return t("measures.expired_on", expires_on=measures["expires_on"])
    if measures["days_left"] == 0:
        return t("measures.last_day")
    return t("measures.days_left", days=measures["days_left"])


def status(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="JSON only.")] = False,
) -> None:
    """Measures in force, recent sweeps, connector health, flags and the outbox."""
    report = api(ctx).get("/status")
    if as_json:
        print_json(report)
        return
    measures = report["measures"]

    # recorded words, as staff read them: a job's outcome, a sweep's status, a topic
    words = {"last_outcome": "job_outcome", "status": "sweep_status", "topic": "topic"}

    def shown(row: dict[str, Any]) -> dict[str, Any]:
        return {
            key: "—"
            if value is None
            else (
                t(f"{words[key]}.{value}")
                if key in words and f"{words[key]}.{value}" in CATALOG
                else value
            )
            for key, value in row.items()
        }

    say(
        Message(
            "status.measures",
            title=measures["title"],
            until=t("measures.until", expires_on=measures["expires_on"], when=_when(measures)),
        )
        if measures["expires_on"]
        else Message("status.measures_open", title=measures["title"])
    )
    holder = report["leader"]
    say(Message("status.leader", **holder) if holder else Message("status.no_leader"))
    for job in report["jobs"]:
        say(Message("status.job", **shown(job)))
        if job["failures_in_row"]:
            say(Message("status.job_failing", **shown(job)))
    if measures["expired"] and measures["successor"]:
        say(Message("status.gap", **shown(measures)))
    elif measures["expired"]:
        say(Message("status.expired", title=measures["title"], expires_on=measures["expires_on"]))

    for run in report["sweeps"]:
        say(Message("status.sweep", **shown(run)))
    for health in report["connectors"]:
        say(Message("status.connector", **shown(health)))
    for row in report["flags"]:
        severity, flag_state = t("severity." + row["severity"]), t("state." + row["state"])
        say(f"  {severity} / {flag_state}: {row['count']}")
    say(
        Message(
            "status.outbox",
            counts=", ".join(
                f"{t(f'alert_status.{k}')} {v}" for k, v in sorted(report["outbox"].items())
            )
            or "—",
        )
    )
    for problem in report["alert_configuration_errors"]:
        say(Message("alerts.config_error", detail=problem))
