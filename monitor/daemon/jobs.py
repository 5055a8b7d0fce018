"""What the daemon's jobs do, one service function each; the CLI commands call the same ones.

Each takes the running context (`Runtime`: engine, config, alerting) and, where
the calendar matters, `today` or `now`, so it can be run on a frozen clock.
Notices the calendar owes, and the alerts a sweep raises, are written to the
outbox under a key that makes each one owed once; only the dispatch job (and the
commands that send) hands them to the receivers, so no other job waits on a
receiver or fails because of one.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import astuple, dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, Protocol

import structlog
from sqlalchemy import Engine

from monitor.alerts import queries as alert_queries
from monitor.alerts.authorities import MUNICIPAL, OPS
from monitor.alerts.record import DispatchReport
from monitor.calendar import expiry_warning_due, filing_reminder_due, iso_week
from monitor.clauses import reference
from monitor.clock import BEIJING, beijing_text, now_utc, today_beijing
from monitor.codes import DISTRICTS_BY_CODE
from monitor.config import LoadedConfig, cron_trigger
from monitor.errors import Refused, SweepIncomplete
from monitor.flags.store import open_flags_oldest_first
from monitor.i18n import Message, language, t, using_language
from monitor.register.store import active_basic_by_district, enterprises
from monitor.rules.policy import PolicyChoice, measures_in_force
from monitor.storage.audit_chain import head_and_length
from monitor.storage.db import session_scope
from monitor.vocabulary import AlertStatus

if TYPE_CHECKING:
    from monitor.alerts.service import Alerting
    from monitor.sweep.run import SweepSummary

log = structlog.get_logger("sfm.jobs")


class Runtime(Protocol):
    """What a job needs, as monitor/runtime.py provides it (the daemon's, or a command's own
    without a daemon)."""

    @property
    def engine(self) -> Engine: ...

    @property
    def config(self) -> LoadedConfig: ...

    @property
    def alerting(self) -> Alerting: ...

    @property
    def simulator_url(self) -> str | None:
        """The built-in upstream's address, if a connector asks it (demo and tests)."""
        ...


@dataclass
class SweepResult:
    """A sweep's own outcome. `delivery` and `undelivered` only for `sfm check` run without a
    daemon, which sends what is due before it exits (see `check`)."""

    summary: SweepSummary
    connector_notes: list[str]
    delivery: DispatchReport | None = None
    undelivered: int = 0  # alerts this check raised that did not go out

    def as_json(self) -> dict[str, Any]:
        return self.summary.as_json() | {
            "alerts": self.delivery.as_json() if self.delivery else None,
            "connector_notes": self.connector_notes,
            "problems": self.problems(),
        }

    def problems(self) -> list[str]:
        """What makes this sweep incomplete: a source that answered for no factory at all,
        and (`sfm check` alone) alerts it raised that could not be handed over."""
        found = [
            t("sweep.source_failed", connector=name, errors=tally.errors)
            for name, tally in self.summary.connectors.items()
            if tally.errors and not (tally.found or tally.not_found)
        ]
        if self.undelivered:
            found.append(t("sweep.alerts_stuck", count=self.undelivered))
        return found

    def raise_if_incomplete(self) -> None:
        if problems := self.problems():
            raise SweepIncomplete(
                "；".join(problems) if language() == "zh" else "; ".join(problems)
            )


def sweep(
    runtime: Runtime,
    *,
    topic: str | None = None,
    factory_code: str | None = None,
    stop: threading.Event | None = None,
    progress: Callable[[str], None] | None = None,
    on_start: Callable[[int, int], None] | None = None,
    wait: bool = True,
    claimed: bool = False,
) -> SweepResult:
    """Ask the connectors, run the rules, watch the sources. The alerts it raises are
    written to the outbox (the queue) and sent by the dispatch job, never here: a slow or
    refusing receiver never holds up a sweep, nor makes it fail.

    A scheduled sweep waits for one in progress; staff's (`wait=False`) is refused.
    `claimed`: the caller took SWEEPING itself and releases it (a staff sweep started
    through the API is refused when it is asked for, before it runs on a thread of its own)."""
    from monitor.sweep.run import SWEEPING, run_sweep

    if not claimed and not SWEEPING.acquire(blocking=wait):
        raise Refused(Message("sweep.busy"))
    try:
        summary = asyncio.run(
            run_sweep(
                runtime.engine,
                runtime.config,
                factory_code=factory_code,
                topic=topic,
                outbox=runtime.alerting.outbox,
                progress=progress,
                on_start=on_start,
                stop=stop,
                simulator_url=runtime.simulator_url,
            )
        )
    finally:
        if not claimed:
            SWEEPING.release()
    notes = watch_connectors(runtime) if factory_code is None else []
    return SweepResult(summary, notes)


def check(runtime: Runtime, *, deliver: bool, **sweep_args: Any) -> SweepResult:
    """`sfm check`: a sweep now. Run without a daemon (`deliver`), it then sends what is due
    (revocations first, within the dispatch budget), so that it exits with its revocation
    alerts handed over, and counts those it raised that were not; in the daemon, the
    dispatch job sends them."""
    if not deliver:
        return sweep(runtime, **sweep_args)
    with session_scope(runtime.engine) as session:
        newest_before = alert_queries.newest_id(session)
    result = sweep(runtime, **sweep_args)
    with session_scope(runtime.engine) as session:
        newest_swept = alert_queries.newest_id(session)
    result.delivery = dispatch(runtime)
    with session_scope(runtime.engine) as session:  # the sweep's own, not notes dispatch wrote
        result.undelivered = alert_queries.count_between(
            session, newest_before, newest_swept, OWED_NOW
        )
    return result


# owed now and not (yet) handed over; `held` alerts wait for the digest by design
OWED_NOW = (AlertStatus.PENDING.value, AlertStatus.SENDING.value, AlertStatus.FAILED.value)


def dispatch(runtime: Runtime, stop: threading.Event | None = None) -> DispatchReport:
    """Send what is due: the dispatch job, and the commands that send (`sfm alerts ...`).
    A stop (the daemon's SIGTERM) ends the run after the send under way."""
    return runtime.alerting.dispatcher.dispatch_due(stop=stop)


def digest(runtime: Runtime) -> int:
    """Bundle the held review/action alerts into one digest per authority (sent by dispatch)."""
    with session_scope(runtime.engine) as session:
        return len(runtime.alerting.outbox.make_digests(session, now_utc()))


def remind(runtime: Runtime) -> int:
    """Remind about open flags past their deadline and escalate the oldest (sent by
    dispatch). How many alerts that wrote."""
    with session_scope(runtime.engine) as session:
        return runtime.alerting.outbox.make_reminders(session, now_utc())


# ---------------------------------------------------------------- monitoring the monitor


def _failed_runs_in_a_row(runs: list[dict[str, Any]], connector: str) -> tuple[int, int | None]:
    """How many of the newest sweeps that asked `connector` got nothing but errors from it,
    and the id of the first of them."""
    count, first = 0, None
    for run in runs:
        tally = run["connectors"].get(connector)
        if tally is None:
            continue
        if tally.get("errors", 0) and not (tally.get("found", 0) or tally.get("not_found", 0)):
            count, first = count + 1, run["id"]
        else:
            break
    return count, first


def watch_connectors(runtime: Runtime, now: datetime | None = None) -> list[str]:
    """Tell ops once when a source is down (failing sweeps, or stale data), once when back."""
    from monitor.sweep.observations import source_health
    from monitor.sweep.runs import finished_runs

    now = now or now_utc()
    outbox = runtime.alerting.outbox
    notes = []
    with session_scope(runtime.engine) as session:
        runs = [
            {"id": run_id, "at": at, "connectors": (summary or {}).get("connectors", {})}
            for run_id, at, summary in finished_runs(session, 50)
        ]
        health = {h.connector: h for h in source_health(session)}
        for settings in runtime.config.settings.connectors:
            if not settings.enabled:
                continue
            name = settings.name
            failed, first_failed = _failed_runs_in_a_row(runs, name)
            row = health.get(name)
            newest = row.last_success_at if row else None
            newest_text = beijing_text(newest) if newest else "—"
            # Hours count only once the latest sweep that asked it got no answer: after the
            # wall clock jumped forward (or the daemon was down) the source is not "stale"
            # before it is asked again. Sweeps are taken in the order they ran, not by their
            # start times, which a clock set back puts after the newest answer.
            stale = (
                newest is not None
                and now - newest > timedelta(hours=settings.stale_after_hours)
                and failed > 0
            )
            failing = failed >= settings.down_after_runs
            down = failing or stale
            told_down = _last_connector_note(session, name) == "down"
            shown = settings.display_name or name
            if down and not told_down:
                episode = first_failed if failing else beijing_text(now)
                outbox.note(
                    session,
                    "ops",
                    f"ops:connector:{name}:down:{episode}",
                    OPS,
                    {
                        "kind": "connector_down",
                        "connector": shown,
                        "failing": failing,
                        "runs": failed,
                        "detail": (row.last_error_detail or "") if row else "",
                        "since": newest_text,
                    },
                    now,
                )
                notes.append(f"{name}: down")
                log.error("connector down", connector=name, failed_runs=failed, stale=stale)
            elif told_down and not down:
                outbox.note(
                    session,
                    "ops",
                    f"ops:connector:{name}:up:{beijing_text(now)}",
                    OPS,
                    {"kind": "connector_up", "connector": shown, "since": newest_text},
                    now,
                )
                notes.append(f"{name}: recovered")
                log.info("connector recovered", connector=name)
    return notes


def _last_connector_note(session: Any, connector: str) -> str | None:
    """ "down" or "up": what ops was last told about this connector."""
    key = alert_queries.newest_dedup_key(session, "ops", f"ops:connector:{connector}:")
    return key.split(":")[3] if key else None


def connector_watch(runtime: Runtime) -> list[str]:
    return watch_connectors(runtime)


# ---------------------------------------------------------------- the regulatory calendar


def filing_reminders(runtime: Runtime, today: date | None = None) -> list[str]:
    """Article 6: remind each district before the 15th of a quarter's third month, with the
    quarter's filings report attached. The districts reminded (empty on other days)."""
    from monitor.reports import export_filings, quarter_text

    today = today or today_beijing()
    settings = runtime.config.settings
    due = filing_reminder_due(today, settings.schedule.filing_reminder_days)
    if due is None:
        return []
    authorities = runtime.alerting.authorities
    folder = runtime.config.resolve(settings.daemon.reports)
    now = now_utc()
    reminded = []
    with session_scope(runtime.engine) as session:
        counts = active_basic_by_district(session)
    for code, district in sorted(DISTRICTS_BY_CODE.items()):
        if not authorities.has_district(code):
            continue
        key = f"filing:{due.quarter}:{code}:{due.threshold}"
        with session_scope(runtime.engine) as session:
            if runtime.alerting.outbox.owed(session, key):
                continue  # reminded already: no need to build its report again
        report = folder / f"filings-{due.quarter}-{code}.xlsx"
        with using_language(settings.alerts.language):  # the attached report's words
            filed = export_filings(runtime.engine, report, "xlsx", due.quarter, code)
            quarter = quarter_text(due.quarter)
        first, last = due.quarter.filing_window
        details = {
            "district": district.name,
            "quarter": quarter,
            "code": str(due.quarter),
            "first": str(first),
            "last": str(last),
            "deadline": str(due.deadline),
            "days_left": due.days_left,
            "basic": counts.get(code, 0),
            "filed": filed,
            "report": report.name,
        }
        with session_scope(runtime.engine) as session:
            if runtime.alerting.outbox.note(
                session, "filing", key, code, details, now, attachment=str(report)
            ):
                reminded.append(code)
    log.info("filing reminders", quarter=str(due.quarter), districts=len(reminded))
    return reminded


def expiry_warning(runtime: Runtime, today: date | None = None) -> int | None:
    """Article 14: warn the bureau 60, 30 and 7 days (as configured) before the measures in
    force expire. The days left when a warning was written, else None."""
    today = today or today_beijing()
    settings = runtime.config.settings
    choice = measures_in_force(runtime.config.settings.policy, today)
    if choice.expired:
        lapsed_notice(runtime, choice)
        return None
    due = expiry_warning_due(today, choice.policy.expires_on, settings.schedule.expiry_warning_days)
    if due is None:
        return None
    details = {
        "kind": "warning",
        "title": choice.policy.title,
        "expires_on": str(due.expires_on),
        "days_left": due.days_left,
    }
    key = f"expiry:{choice.key}:{due.threshold}"
    with session_scope(runtime.engine) as session:
        written = runtime.alerting.outbox.note(
            session, "expiry", key, MUNICIPAL, details, now_utc()
        )
    return due.days_left if written else None


def _lapse(choice: PolicyChoice, kind: str) -> dict[str, Any]:
    """The facts of a lapse: which measures expired when, and what follows them."""
    successor = choice.successor
    return {
        "kind": kind,
        "title": choice.policy.title,
        "expires_on": str(choice.policy.expires_on),
        "successor": successor.title if successor else "",
        "successor_from": str(successor.effective_from) if successor else "",
    }


def lapsed_notice(runtime: Runtime, choice: PolicyChoice) -> bool:
    """Article 14: on the first day no measures are in force (after the expiry, or in a
    gap before a successor), one notice to the bureau."""
    with session_scope(runtime.engine) as session:
        written = runtime.alerting.outbox.note(
            session,
            "expiry",
            f"lapsed:{choice.key}",
            MUNICIPAL,
            _lapse(choice, "lapsed"),
            now_utc(),
        )
    dispatch(runtime)
    return bool(written)


def expired_note(runtime: Runtime, today: date | None = None) -> bool:
    """While no measures are in force (after the last expiry, or in a gap before a
    successor): a weekly note to ops."""
    today = today or today_beijing()
    choice = measures_in_force(runtime.config.settings.policy, today)
    if not choice.expired:
        return False
    with session_scope(runtime.engine) as session:
        written = runtime.alerting.outbox.note(
            session,
            "ops",
            f"ops:expired:{choice.key}:{iso_week(today)}",
            OPS,
            _lapse(choice, "expired"),
            now_utc(),
        )
    return bool(written)


def _overview_day(runtime: Runtime, today: date) -> bool:
    """Whether the overview's schedule fires on `today` (Beijing): the overview goes out on
    its weekday, not whenever the daemon first starts."""
    trigger = cron_trigger(runtime.config.settings.schedule.overview)
    start = datetime.combine(today, time.min, tzinfo=BEIJING)
    fires = trigger.get_next_fire_time(None, start)
    return fires is not None and fires < start + timedelta(days=1)


@dataclass(frozen=True)
class OverviewLine:
    """An open flag as the weekly overview lists it."""

    id: int
    severity: str
    rule_id: str
    clause: str
    first_seen_at: datetime
    name: str
    level: str
    district_code: str


def overview(runtime: Runtime, today: date | None = None) -> int:
    """Article 11: the bureau's weekly overview of every open flag at both levels."""
    today = today or today_beijing()
    with session_scope(runtime.engine) as session:
        flags = open_flags_oldest_first(session)
        owners = enterprises(session, (flag[-1] for flag in flags))
        rows = [
            OverviewLine(
                flag_id, severity, rule_id, clause, first_seen_at, *astuple(owners[factory_id])
            )
            for flag_id, severity, rule_id, clause, first_seen_at, factory_id in flags
        ]
    if not rows or not _overview_day(runtime, today):
        return len(rows)  # an overview with nothing in it, or off its weekday, is not sent
    # The audit chain's head and length go to the bureau's own mailbox: a witness that a
    # superuser who rewrites the audit and reseals the whole chain cannot reach.
    head, length = head_and_length(runtime.engine)
    with using_language(runtime.config.settings.alerts.language):
        by_district = Counter(
            (
                DISTRICTS_BY_CODE[r.district_code].name
                if r.district_code in DISTRICTS_BY_CODE
                else r.district_code,
                t(f"level.{r.level}"),
            )
            for r in rows
        )
        by_severity = Counter(t(f"severity.{r.severity}") for r in rows)
        reader = language()
        details = {
            "week": iso_week(today),
            "total": len(rows),
            "by_severity": sorted(by_severity.items()),
            "by_district": [[d, lvl, n] for (d, lvl), n in sorted(by_district.items())],
            "oldest": [
                {
                    "id": r.id,
                    "name": r.name,
                    "clause": reference(r.clause, reader),
                    "what": t(f"rule.{r.rule_id}"),
                    "first_seen": beijing_text(r.first_seen_at)[:10],
                }
                for r in rows[:20]
            ],
            "audit": {"length": length, "head": head},
        }
    with session_scope(runtime.engine) as session:
        runtime.alerting.outbox.note(
            session, "overview", f"overview:{iso_week(today)}", MUNICIPAL, details, now_utc()
        )
    return len(rows)
