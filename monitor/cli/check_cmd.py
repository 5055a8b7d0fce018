"""`sfm check` (a sweep now) and `sfm simulator` (the local upstream on its own)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Annotated, Any

import typer

from monitor.cli.common import AppContext, api, console, print_json, say, state
from monitor.i18n import CATALOG, Message, t


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
    app_state = state(ctx)
    with ExitStack() as held:
        if True:  # until sweeps are jobs of the API: a sweep here holds the daemon's lock
            held.enter_context(sweeping_alone(app_state))
        result = _sweep(app_state, factory, topic, progress=sys.stdout.isatty() and not as_json)
    _show(result, as_json)
    result.raise_if_incomplete()


@contextmanager
def sweeping_alone(app_state: AppContext) -> Iterator[None]:
    """The daemon's leader lock, for one `sfm check`: refused (exit 3) while a daemon or
    another check holds it, so two sweeps never interleave their writes."""
    from monitor.daemon.leader import LeaderLock, refusal

    lock = LeaderLock(app_state.engine)
    if not lock.try_acquire():
        raise refusal(app_state.engine, "sweep")
    try:
        yield
    finally:
        lock.release()


def _sweep(app_state: AppContext, factory: str | None, topic: str | None, *, progress: bool) -> Any:
    from monitor.daemon import jobs

    # alone, `sfm check` sends what is due before it exits; in the daemon, its dispatch job does
    deliver = True
    if not progress:
        return jobs.check(app_state, deliver=deliver, topic=topic, factory_code=factory, wait=False)
    else:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console(),
            transient=True,
        ) as bar:
            task = bar.add_task(t("check.progress"), total=None)

            def started(total: int, _connectors: int) -> None:
                bar.update(task, total=total or None)

            return jobs.check(
                app_state,
                deliver=deliver,
                topic=topic,
                factory_code=factory,
                progress=lambda _name: bar.advance(task),
                on_start=started,
                wait=False,
            )


def _show(result: Any, as_json: bool) -> None:
    summary, delivery = result.summary, result.delivery
    if as_json:
        print_json(result.as_json())
        return
    from rich.table import Table

    table = Table(
        title=t("check.title", factories=summary.factories, seconds=f"{summary.duration_s:.1f}")
    )
    for key in ("connector", "topic", "found", "not_found", "errors", "changed"):
        table.add_column(
            t(f"check.col.{key}"), justify="left" if key in ("connector", "topic") else "right"
        )
    for name, tally in summary.connectors.items():
        errors = str(tally.errors)
        if tally.error_kinds:
            errors += (
                "（"
                + "，".join(f"{t(f'error_kind.{k}')} {n}" for k, n in tally.error_kinds.items())
                + "）"
            )
        table.add_row(
            name,
            t(f"topic.{tally.topic}"),
            str(tally.found),
            str(tally.not_found),
            errors,
            str(tally.changed),
        )
    console().print(table)
    for name, tally in summary.connectors.items():
        # what an answer or a file held that was not taken as the factory's evidence
        if tally.other_codes_dropped or tally.codes_folded or tally.rows_rejected:
            say(
                Message(
                    "check.set_aside",
                    connector=name,
                    other_codes_dropped=tally.other_codes_dropped,
                    codes_folded=tally.codes_folded,
                    rows_rejected=tally.rows_rejected,
                )
            )
    if summary.evaluation is not None:
        say(Message("check.flags", **summary.evaluation.as_json()))
    if delivery is not None:
        say(
            Message(
                "alerts.dispatched",
                sent=delivery.sent,
                retrying=delivery.retrying,
                failed=delivery.failed,
            )
        )


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
