"""Benchmark: a revocation alert is not held up by a backlog in the outbox (issue 21).

Before the daemon starts, 5,000 reminders about review flags are due to the
bureau (SFM_BENCH_BACKLOG changes the count); the daemon's first dispatch run
starts on them while its first sweep raises the demo register's revocation
flags. Measured per revocation flag, from its `first_seen_at` to the loopback
SMTP server's DATA of the first alert about it: at most 5 s, and the revocation
alerts go out ahead of the backlog (the backlog mails that went out between a
flag and its alert, those in flight until the sweep committed, are counted).
SFM_BENCH_SMTP_DELAY_S slows the mail server (default 0: loopback speed).

The run has a time limit (SFM_BENCH_LIMIT_S, default 180 s): if the alerts have
not arrived by then, or a job failed, it says so and exits 1 instead of waiting.

Run with `make bench`.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, select  # noqa: E402
from sqlmodel import col  # noqa: E402

from monitor.clock import now_utc  # noqa: E402
from monitor.decisions import raise_for  # noqa: E402
from monitor.operators import Operator  # noqa: E402
from monitor.register.store import import_factories  # noqa: E402
from monitor.storage import db  # noqa: E402
from monitor.storage.db import session_scope  # noqa: E402
from monitor.storage.models import Alert, Factory, Flag, JobRun  # noqa: E402
from tests.conftest import DEMO_FACTORIES, REGISTRAR  # noqa: E402
from tests.integration.alerts.conftest import SmtpServer  # noqa: E402
from tests.perf.bench_daemon import (  # noqa: E402
    every_authority,
    start_daemon,
    stop,
    write_config,
)

BACKLOG = int(os.environ.get("SFM_BENCH_BACKLOG", "5000"))
SMTP_DELAY_S = float(os.environ.get("SFM_BENCH_SMTP_DELAY_S", "0"))
LIMIT_S = float(os.environ.get("SFM_BENCH_LIMIT_S", "180"))
LATENCY_BOUND_S = 5.0
BUREAU = "zngc@jxj.beijing.gov.cn"
BACKLOG_MARK = "sfm-bench-backlog"


class StampedSmtp(SmtpServer):
    """Loopback SMTP that notes when each message's DATA arrived, optionally slowly."""

    def __init__(self) -> None:
        super().__init__()
        self.arrivals: list[tuple[float, str]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if SMTP_DELAY_S:
            await asyncio.sleep(SMTP_DELAY_S)
        answer = await super().handle_DATA(server, session, envelope)
        self.arrivals.append((time.time(), self.mails[-1].subject))
        return answer


REMINDER = "【sfm】提醒："  # the backlog's subjects begin so


def about(name: str, subject: str) -> bool:
    """Whether a mail is an alert about this enterprise's revocation flag (not a reminder)."""
    return name in subject and REMINDER not in subject


def owe_backlog(engine: Any) -> None:
    """BACKLOG reminders to the bureau about ten review flags, all due now."""
    bench = Operator("bench", "基准测试", "municipal")
    with session_scope(engine) as session:
        codes = list(session.scalars(select(col(Factory.credit_code)).limit(10)))
    flags = [
        raise_for(
            engine, code, "art12.5-penalty", operator=bench, reason=BACKLOG_MARK, outbox=None
        ).id
        for code in codes
    ]
    now = now_utc()
    rows = [
        {
            "kind": "reminder",
            "dedup_key": f"reminder:{flags[n % len(flags)]}:municipal:bench-{n}",
            "flag_id": flags[n % len(flags)],
            "authority": "municipal",
            "status": "pending",
            "attempts": 0,
            "delivered": [],
            "next_attempt_at": now,
            "created_at": now,
        }
        for n in range(BACKLOG)
    ]
    with session_scope(engine) as session:
        session.execute(insert(Alert), rows)


def failed_jobs(engine: Any) -> list[str]:
    with session_scope(engine) as session:
        return [
            f"{run.job_id}: {run.detail}"
            for run in session.scalars(select(JobRun).where(col(JobRun.outcome) == "failed"))
        ]


def revocation_flags(engine: Any) -> list[tuple[str, datetime]]:
    with session_scope(engine) as session:
        return [
            (name, seen)
            for name, seen in session.execute(
                select(col(Factory.name), col(Flag.first_seen_at))
                .join(Factory, col(Factory.id) == col(Flag.factory_id))
                .where(col(Flag.severity) == "revocation")
            )
        ]


def backlog_left(engine: Any) -> int:
    with session_scope(engine) as session:
        return len(
            session.scalars(
                select(col(Alert.id)).where(
                    col(Alert.kind) == "reminder", col(Alert.status) == "pending"
                )
            ).all()
        )


def bench_revocation_behind_backlog(directory: Path) -> bool:
    smtp = StampedSmtp()
    smtp.start()
    # every authority has a URL: nothing owed goes nowhere
    authorities = every_authority(
        lambda key: smtp.url(f"{key}@bench.gov.cn"), bureau=smtp.url(BUREAU)
    )
    yearly = '"0 0 1 1 *"'  # each job runs once at start-up (never run before), then not again
    schedule = (
        f"[schedule]\nregistration_sweep = {yearly}\ncredit_sweep = {yearly}\n"
        f'safety_sweep = {yearly}\ndispatch = "* * * * * *"\ndigest = {yearly}\n'
    )
    config = write_config(directory, schedule, authorities)
    engine = db.make_engine(f"sqlite:///{directory / 'sfm.db'}")
    db.upgrade(engine)
    import_factories(engine, DEMO_FACTORIES, operator=REGISTRAR)
    owe_backlog(engine)
    daemon = start_daemon(config, directory)
    started = time.monotonic()
    told = False
    flags: list[tuple[str, datetime]] = []
    left = BACKLOG
    try:
        while time.monotonic() - started < LIMIT_S:
            flags = revocation_flags(engine)
            told = bool(flags) and all(
                any(about(name, subject) for _, subject in smtp.arrivals) for name, _ in flags
            )
            if told:
                left = backlog_left(engine)
                break
            if failures := [f for f in failed_jobs(engine) if "dispatch" not in f]:
                print(f"(a) a job failed, not waiting for it: {'; '.join(failures)}: NOT MET")
                return False
            if daemon.poll() is not None:
                print("(a) the daemon died: NOT MET")
                return False
            time.sleep(0.1)
    finally:
        stop(daemon)
        smtp.stop()
    if not told:
        print(
            f"(a) {len(flags)} revocation flags, not all told within the {LIMIT_S:.0f} s limit: "
            "NOT MET"
        )
        return False
    arrivals = smtp.arrivals
    latencies, overtaken = [], 0
    first_flag = min(seen.timestamp() for _, seen in flags)
    last_alert = 0.0
    for name, seen in flags:
        first = min(at for at, subject in arrivals if about(name, subject))
        latencies.append(first - seen.timestamp())
        last_alert = max(last_alert, first)
    overtaken = sum(
        1 for at, subject in arrivals if first_flag <= at <= last_alert and REMINDER in subject
    )
    worst = max(latencies)
    ahead = left > 0  # they arrived while the backlog was still going out
    met = worst <= LATENCY_BOUND_S and ahead
    print(
        f"(a) revocation flag → SMTP accepted, behind a backlog of {BACKLOG:,} due reminders "
        f"(SMTP {SMTP_DELAY_S:g} s a message): {len(flags)} flags, median "
        f"{statistics.median(latencies):.2f} s, worst {worst:.2f} s; bound "
        f"{LATENCY_BOUND_S:.1f} s, ratio {worst / LATENCY_BOUND_S:.3f}; "
        + (f"ahead of the backlog ({left:,} still due)" if ahead else "NOT ahead of the backlog")
        + f", {overtaken} backlog mails went out between the flags and their alerts (those in "
        "flight until the sweep committed): " + ("met" if met else "NOT MET")
    )
    return met


def main() -> int:
    print(f"bench_delivery at {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    with tempfile.TemporaryDirectory() as folder:
        ok = bench_revocation_behind_backlog(Path(folder))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
