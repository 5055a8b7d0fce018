"""Benchmark: the daemon as it runs on a server (issue 9).

(a) A new revocation flag to the alert accepted by a loopback SMTP server, inside
    the running daemon: at most 5 s. Measured per revocation flag of the demo
    register, from the flag's `first_seen_at` to the SMTP server's DATA.
(b) The daemon's resident memory when idle after a full sweep (three topics) of
    10,000 factories: at most 250 MB. The simulator answers in-process, as in the
    demo; the figure includes it.

Every authority has a URL (nothing owed goes nowhere), and each wait has a time
limit: a job that failed, or a daemon that died, is reported (NOT MET, exit 1)
instead of waited for.

Run with `make bench`; SFM_BENCH_FACTORIES changes N for (b).
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine, select  # noqa: E402
from sqlmodel import col  # noqa: E402

from monitor.codes import DISTRICTS_BY_CODE  # noqa: E402
from monitor.register.store import import_factories  # noqa: E402
from monitor.storage import db  # noqa: E402
from monitor.storage.db import session_scope  # noqa: E402
from monitor.storage.models import Factory, Flag, JobRun  # noqa: E402
from tests.conftest import (  # noqa: E402
    DEMO_FACTORIES,
    REGISTRAR,
    many_factories,
    shipped_connectors,
)
from tests.integration.alerts.conftest import SmtpServer  # noqa: E402

N = int(os.environ.get("SFM_BENCH_FACTORIES", "10000"))
LATENCY_BOUND_S = 5.0
MEMORY_BOUND_MB = 250.0
BUREAU = "zngc@jxj.beijing.gov.cn"


def write_config(directory: Path, schedule: str, authorities: str, simulator: str = "") -> Path:
    # the shipped connectors, with a provider's quota of 500 a second
    shipped = shipped_connectors().replace("rate_limit_per_s = 50", "rate_limit_per_s = 500")
    (directory / "authorities.toml").write_text(authorities, encoding="utf-8")
    config = directory / "sfm.toml"
    config.write_text(
        f'[database]\nurl = "sqlite:///{directory / "sfm.db"}"\n'
        '[logging]\nlevel = "warning"\nfile = ""\n'
        f"{schedule}\n" + shipped.replace("[simulator]\n", simulator),
        encoding="utf-8",
    )
    return config


def every_authority(url_for: Callable[[str], str], bureau: str | None = None) -> str:
    """authorities.toml with a URL for the bureau, ops and every district."""
    lines = [
        f'[municipal]\nname = "市经信局"\nurls = ["{bureau or url_for("municipal")}"]',
        f'[ops]\nname = "ops"\nurls = ["{url_for("ops")}"]',
    ]
    for code, district in sorted(DISTRICTS_BY_CODE.items()):
        lines.append(f'[districts.{code}]\nname = "{district.name}"\nurls = ["{url_for(code)}"]')
    return "\n".join(lines) + "\n"


def failed_jobs(engine: Engine, job_ids: tuple[str, ...]) -> list[str]:
    """These jobs whose last run failed, with why."""
    with session_scope(engine) as session:
        return [
            f"{run.job_id}: {run.detail}"
            for run in session.scalars(
                select(JobRun).where(
                    col(JobRun.job_id).in_(job_ids), col(JobRun.outcome) == "failed"
                )
            )
        ]


def finished_ok(engine: Engine, job_ids: tuple[str, ...]) -> bool:
    """Whether every one of these jobs has run to success."""
    with session_scope(engine) as session:
        done = session.scalars(
            select(col(JobRun.job_id)).where(
                col(JobRun.job_id).in_(job_ids), col(JobRun.outcome) == "ok"
            )
        ).all()
    return len(done) == len(job_ids)


def start_daemon(config: Path, cwd: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "monitor.cli", "--config", str(config), "run"],
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=40)
    except subprocess.TimeoutExpired:
        process.kill()


def bench_alert_latency(directory: Path) -> bool:
    smtp = SmtpServer()
    received: list[tuple[float, str]] = []
    original = smtp.handle_DATA

    async def stamped(server, session, envelope):  # type: ignore[no-untyped-def]
        answer = await original(server, session, envelope)
        received.append((time.time(), smtp.mails[-1].subject))
        return answer

    smtp.handle_DATA = stamped  # type: ignore[method-assign]
    smtp.start()
    authorities = every_authority(lambda key: smtp.url(f"{key}@bench.gov.cn"), smtp.url(BUREAU))
    schedule = (
        '[schedule]\nregistration_sweep = "*/5 * * * * *"\ncredit_sweep = "0 0 1 1 *"\n'
        'safety_sweep = "*/5 * * * * *"\ndispatch = "* * * * *"\n'
    )
    config = write_config(directory, schedule, authorities)
    engine = db.make_engine(f"sqlite:///{directory / 'sfm.db'}")
    db.upgrade(engine)
    import_factories(engine, DEMO_FACTORIES, operator=REGISTRAR)
    daemon = start_daemon(config, directory)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with session_scope(engine) as session:
                flags = session.execute(
                    select(col(Factory.name), col(Flag.first_seen_at))
                    .join(Factory, col(Factory.id) == col(Flag.factory_id))
                    .where(col(Flag.severity) == "revocation")
                ).all()
            swept = finished_ok(engine, ("registration-sweep", "safety-sweep"))
            told = all(any(name in subject for _, subject in received) for name, _ in flags)
            if swept and flags and told:
                break
            if failed := failed_jobs(engine, ("registration-sweep", "safety-sweep")):
                print(f"(a) a sweep failed, not waited for: {'; '.join(failed)}: NOT MET")
                return False
            if daemon.poll() is not None:
                print("(a) the daemon died: NOT MET")
                return False
            time.sleep(0.2)
    finally:
        stop(daemon)
        smtp.stop()
    if not flags:
        print("(a) the daemon raised no revocation flag within 120 s: NOT MET")
        return False
    # each flag against the first alert about it (the subject names the enterprise)
    latencies = []
    for name, seen in flags:
        arrivals = [at for at, subject in received if name in subject]
        if not arrivals:
            print(f"(a) no alert arrived about {name}: NOT MET")
            return False
        latencies.append(min(arrivals) - seen.timestamp())
    worst = max(latencies)
    print(
        f"(a) new revocation flag → SMTP accepted, in the daemon: {len(flags)} flags, "
        f"median {statistics.median(latencies):.2f} s, worst {worst:.2f} s; "
        f"bound {LATENCY_BOUND_S:.1f} s, ratio {worst / LATENCY_BOUND_S:.3f}: "
        + ("met" if worst <= LATENCY_BOUND_S else "NOT MET")
    )
    return worst <= LATENCY_BOUND_S


def bench_idle_memory(directory: Path) -> bool:
    csv = many_factories(directory / "many.csv", N)
    engine = db.make_engine(f"sqlite:///{directory / 'sfm.db'}")
    db.upgrade(engine)
    import_factories(engine, csv, operator=REGISTRAR)
    # the daemon's local sink (var/outbox under its folder): every authority has a URL
    authorities = every_authority(lambda key: f"outbox://{key}")
    # the sweeps run once at start-up (never run before), then not again for a year
    yearly = '"0 0 1 1 *"'
    schedule = (
        f"[schedule]\nregistration_sweep = {yearly}\ncredit_sweep = {yearly}\n"
        f"safety_sweep = {yearly}\ndispatch = {yearly}\n"
    )
    config = write_config(
        directory, schedule, authorities, simulator="[simulator]\nsynthesize = true\n"
    )
    started = time.monotonic()
    daemon = start_daemon(config, directory)
    sweeps = ("registration-sweep", "credit-sweep", "safety-sweep")
    try:
        while time.monotonic() - started < 900:
            if finished_ok(engine, sweeps):
                break
            if failed := failed_jobs(engine, sweeps):
                print(f"(b) a sweep failed, not waited for: {'; '.join(failed)}: NOT MET")
                return False
            if daemon.poll() is not None:
                print("(b) the daemon died during the sweep: NOT MET")
                return False
            time.sleep(1)
        else:
            print("(b) the sweeps did not finish within 900 s: NOT MET")
            return False
        swept = time.monotonic() - started
        time.sleep(10)  # idle
        process = psutil.Process(daemon.pid)
        rss = process.memory_info().rss + sum(
            child.memory_info().rss for child in process.children(recursive=True)
        )
    finally:
        stop(daemon)
    megabytes = rss / 2**20
    print(
        f"(b) daemon resident memory, idle after sweeping {N:,} factories × 3 topics "
        f"({swept:.0f} s): {megabytes:.0f} MB; bound {MEMORY_BOUND_MB:.0f} MB, "
        f"ratio {megabytes / MEMORY_BOUND_MB:.3f}: "
        + ("met" if megabytes <= MEMORY_BOUND_MB else "NOT MET")
    )
    return megabytes <= MEMORY_BOUND_MB


def main() -> int:
    print(f"bench_daemon at {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    with tempfile.TemporaryDirectory() as first, tempfile.TemporaryDirectory() as second:
        latency_ok = bench_alert_latency(Path(first))
        memory_ok = bench_idle_memory(Path(second))
    return 0 if latency_ok and memory_ok else 1


if __name__ == "__main__":
    sys.exit(main())
