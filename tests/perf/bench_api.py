"""Benchmarks of issue 20: the daemon's API, and the CLI as its client.

(a) `sfm flags list` (first page), `sfm flags show ID` and `sfm status` through a running
    daemon (`sfm run`, SQLite) with 10 × N flags (100,000): median ≤ 0.25 s each, wall time
    from process start. The console script runs as a subprocess, RUNS times after one
    unmeasured warm-up; median and p90 are printed.
(b) CLIENTS clients calling GET /flags (the CLI's first page) and GET /flags/{id} in turn,
    in a loop, for LOAD_S seconds (longer if the sweep is not done by then) while a sweep of
    the N factories runs in the daemon: p95 ≤ 1.0 s, no error, and the sweep's wall time
    within 1.15 × the same sweep's with no clients, in the same run. The clients are asyncio
    tasks in one process, each its own `httpx.AsyncClient` and connection over the Unix
    socket. The sweep: the shipped registration connector at a provider's quota of 500 a
    second, against the simulator in its own process (20 ms latency), started through
    POST /sweeps a second after the clients.
(c) The same `sfm flags list` in direct mode (no daemon): median ≤ 0.6 s.
(i) Information, no bound: where (a)'s and (c)'s `sfm flags list` spend their import time
    (`python -X importtime`), by top-level package and by monitor module; the daemon's own
    answer to a warm client; Python's start-up alone and with typer and httpx.

Run with `make bench`; SFM_BENCH_FACTORIES changes N, SFM_BENCH_RUNS, SFM_BENCH_CLIENTS and
SFM_BENCH_LOAD_S the rest (the suite's smoke test runs all of it at a tiny scale), and
SFM_BENCH_PARTS=ac (say) runs only those parts.
"""

from __future__ import annotations

import asyncio
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, select  # noqa: E402
from sqlmodel import col  # noqa: E402

from monitor.api.protocol import PREFIX  # noqa: E402
from monitor.clock import now_utc  # noqa: E402
from monitor.daemon.scheduler import JOBS  # noqa: E402
from monitor.storage import db  # noqa: E402
from monitor.storage.db import session_scope  # noqa: E402
from monitor.storage.models import JobRun, SweepRun  # noqa: E402
from tests.perf.bench_daemon import every_authority, write_config  # noqa: E402
from tests.perf.bench_rules import FACTORIES, FLAGS, many_flags, register  # noqa: E402
from tests.perf.bench_sweep import free_port, start_simulator  # noqa: E402

RUNS = int(os.environ.get("SFM_BENCH_RUNS", "15"))
CLIENTS = int(os.environ.get("SFM_BENCH_CLIENTS", "50"))
LOAD_S = float(os.environ.get("SFM_BENCH_LOAD_S", "30"))
COMMAND_BOUND_S = 0.25
DIRECT_BOUND_S = 0.6
P95_BOUND_S = 1.0
SWEEP_SLOWDOWN_BOUND = 1.15
# Nothing runs on its own: every job ran just now and next runs on the first of January.
YEARLY = "0 0 1 1 *"
PAGE = {"limit": "100", "offset": "0"}  # the CLI's first page of `flags list`


def load_average() -> str:
    one, five, _fifteen = os.getloadavg()
    return f"load {one:.2f}/{five:.2f}"


def verdict(ratio: float) -> str:
    return "OK" if ratio <= 1.0 else "OVER BOUND"


def template(directory: Path) -> Path:
    """N factories, 10 × N flags, and every job recorded as run just now."""
    url = f"sqlite:///{directory / 'sfm.db'}"
    register(directory, url)
    many_flags(url)
    engine = db.make_engine(url)
    now = now_utc()
    with engine.begin() as connection:
        connection.execute(
            insert(JobRun),
            [
                {"job_id": job.id, "started_at": now, "finished_at": now, "outcome": "ok"}
                | {"duration_s": 0.0, "last_success_at": now, "failures_in_row": 0}
                for job in JOBS
            ],
        )
    engine.dispose()
    return directory / "sfm.db"


def daemon_folder(database: Path, folder: Path, upstream: str) -> Path:
    """A folder with a copy of the database and the daemon's config; the config's path."""
    folder.mkdir()
    shutil.copy(database, folder / "sfm.db")
    schedule = "[schedule]\n" + "".join(
        f'{name} = "{YEARLY}"\n'
        for name in (
            "registration_sweep",
            "credit_sweep",
            "safety_sweep",
            "connector_watch",
            "dispatch",
            "digest",
            "remind",
            "overview",
            "filing_reminder",
            "expiry_warning",
            "expired_note",
        )
    )
    config = write_config(folder, schedule, every_authority(lambda key: f"outbox://{key}"))
    # the shipped connectors at 500 a second (write_config's quota), aimed at `upstream`
    text = config.read_text(encoding="utf-8").replace("{simulator}", upstream)
    config.write_text(text.replace('kind = "simulator"', 'kind = "http"'), encoding="utf-8")
    return config


class RunningDaemon:
    """`sfm run` on a folder's config, answering on the socket beside its database."""

    def __init__(self, config: Path) -> None:
        self.folder = config.parent
        self.socket = self.folder / "sfm.db.sock"
        self.log = (self.folder / "daemon.log").open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "monitor.cli", "--config", str(config), "run"],
            cwd=self.folder,
            env={**os.environ, "SFM_OUTBOX_DIR": str(self.folder / "outbox")},
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"the daemon exited {self.process.returncode}: {self.output()}")
            try:
                with self.http() as http:
                    if http.get("/status").status_code == 200:
                        return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise SystemExit(f"the daemon did not answer within 60 s: {self.output()}")

    def http(self) -> httpx.Client:
        return httpx.Client(
            transport=httpx.HTTPTransport(uds=str(self.socket)),
            base_url="http://sfm" + PREFIX,
            timeout=60,
        )

    def output(self) -> str:
        return (self.folder / "daemon.log").read_text(encoding="utf-8", errors="replace")[-3000:]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


@dataclass
class Runs:
    wall: list[float] = field(default_factory=list)  # from process start to exit
    cpu: list[float] = field(default_factory=list)  # user + system time of the process


def timed_runs(argv: list[str], cwd: Path, runs: int) -> Runs:
    """`argv` run `runs` times after one run not counted."""
    timed = Runs()
    for run in range(runs + 1):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run(argv, cwd=cwd, capture_output=True, check=False)
        took = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} exited {done.returncode}: {done.stderr[-2000:]!r}")
        if run:
            timed.wall.append(took)
            timed.cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return timed


def p90(times: list[float]) -> float:
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]


def report_command(label: str, timed: Runs, bound: float) -> bool:
    """The wall time judged; the CPU time beside it says how much of it was this command's
    own work rather than waiting for a busy machine."""
    times = timed.wall
    median = statistics.median(times)
    ratio = median / bound
    print(
        f"{label}: median {median:.3f} s, p90 {p90(times):.3f} s over {len(times)} runs "
        f"(min {min(times):.3f}, max {max(times):.3f}; CPU median "
        f"{statistics.median(timed.cpu):.3f} s); bound {bound:.3f} s; "
        f"ratio {ratio:.3f} {verdict(ratio)} [{load_average()}]"
    )
    return ratio <= 1.0


def sfm(config: Path, *args: str) -> list[str]:
    return [str(Path(sys.executable).parent / "sfm"), "--config", str(config), *args]


def imports_of(argv: list[str], cwd: Path) -> list[tuple[int, int, int, str]]:
    """`python -X importtime` of a command: (self µs, cumulative µs, depth, module) per
    import, each printed after the ones it caused."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *argv],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    entries = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        own, cumulative, name = line.removeprefix("import time:").split("|")
        depth = (len(name) - len(name.lstrip()) - 1) // 2
        entries.append((int(own), int(cumulative), depth, name.strip()))
    return entries


def import_breakdown(config: Path, cwd: Path, how: str) -> None:
    """Where `sfm flags list` spends its import time, in the least disturbed of a few runs:
    self time by top-level package, the chain of imports that first brought in each heavy
    package, and monitor's own modules."""
    runs = [imports_of(sfm(config, "flags", "list"), cwd) for _ in range(max(1, RUNS // 3))]
    entries = min(runs, key=lambda entries: sum(entry[0] for entry in entries))

    def importers(index: int) -> list[str]:
        chain: list[str] = []
        depth = entries[index][2]
        for _self, _cumulative, later_depth, module in entries[index + 1 :]:
            if later_depth < depth:
                chain.append(module)
                depth = later_depth
        return chain[::-1]

    by_package: dict[str, int] = defaultdict(int)
    for self_us, _cumulative, _depth, module in entries:
        by_package[module.split(".")[0]] += self_us
    total = sum(by_package.values())
    top = sorted(by_package.items(), key=lambda item: -item[1])[:14]
    print(
        f"(i) imports of sfm flags list ({how}): {total / 1000:.0f} ms in all, "
        f"the least of {len(runs)} runs [{load_average()}]"
    )
    print("(i)   self ms by package: " + ", ".join(f"{p} {us / 1000:.0f}" for p, us in top))
    for package, _us in [item for item in top if item[0] != "monitor"][:8]:
        first = next(
            (i for i, entry in enumerate(entries) if entry[3] == package),
            next(i for i, entry in enumerate(entries) if entry[3].split(".")[0] == package),
        )
        chain = [m for m in importers(first) if m.split(".")[0] != package]
        how = (
            "first imported by " + " → ".join(chain)
            if chain
            else "imported at top level (by the script, or lazily at run time)"
        )
        print(f"(i)   {package} ({entries[first][1] / 1000:.0f} ms cumulative) {how}")
    ours = sorted(
        (
            (cumulative, module)
            for _s, cumulative, _d, module in entries
            if module.startswith("monitor")
        ),
        reverse=True,
    )[:10]
    print(
        "(i)   monitor modules, cumulative ms: "
        + ", ".join(f"{m} {us / 1000:.0f}" for us, m in ours)
    )


# --- (b): clients while a sweep runs ------------------------------------------------------


@dataclass
class Load:
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    swept: bool = False
    lead_s: float = 0.0  # how long the clients ran before the sweep started


async def one_client(number: int, socket: Path, load: Load, until: float) -> None:
    rng = random.Random(number)
    async with httpx.AsyncClient(
        transport=httpx.AsyncHTTPTransport(uds=str(socket)),
        base_url="http://sfm" + PREFIX,
        headers={"Accept-Language": "zh"},
        timeout=60,
    ) as http:
        turn = number
        while time.monotonic() < until or not load.swept:
            turn += 1
            path, params = ("/flags", PAGE) if turn % 2 else (f"/flags/{rng.randint(1, FLAGS)}", {})
            started = time.perf_counter()
            try:
                answer = await http.get(path, params=params)
                answer.json()
                if answer.status_code != 200:
                    load.errors.append(f"{path}: HTTP {answer.status_code} {answer.text[:200]}")
            except (httpx.HTTPError, ValueError) as exc:
                load.errors.append(f"{path}: {type(exc).__name__}: {exc}")
            load.latencies.append(time.perf_counter() - started)


@dataclass
class Sweep:
    wall_s: float  # from the run's start to its end, the rules included
    fetched_s: float  # the sweep proper: fetching and storing
    rules_s: float
    found: int
    started_at: float  # the epoch second the daemon recorded the run's start


def finished_sweep(engine: Any) -> Sweep | None:
    with session_scope(engine) as session:
        run = session.scalars(select(SweepRun).order_by(col(SweepRun.id).desc())).first()
        if run is None or run.status == "running":
            return None
        if run.status != "completed" or run.finished_at is None:
            raise SystemExit(f"the sweep ended {run.status}: {run.summary}")
        summary = run.summary
        evaluation = summary.get("evaluation") or {}
        return Sweep(
            wall_s=(run.finished_at - run.started_at).total_seconds(),
            fetched_s=float(summary.get("duration_s", 0.0)),
            rules_s=float(evaluation.get("duration_s", 0.0)),
            found=sum(int(t.get("found", 0)) for t in summary.get("connectors", {}).values()),
            started_at=run.started_at.timestamp(),
        )


def sweep_once(
    database: Path, folder: Path, upstream: str, clients: int
) -> tuple[Sweep, Load | None]:
    """One daemon, one sweep of the register; `clients` calling the API from a second
    before the sweep starts until it has ended and LOAD_S have passed."""
    daemon = RunningDaemon(daemon_folder(database, folder, upstream))
    engine = db.make_engine(f"sqlite:///{folder / 'sfm.db'}")
    load = Load() if clients else None

    async def watched() -> Sweep:
        began = time.time()
        until = time.monotonic() + LOAD_S
        tasks = [
            asyncio.create_task(one_client(number, daemon.socket, load, until))
            for number in range(clients)
            if load
        ]
        if load:
            await asyncio.sleep(1)
        async with httpx.AsyncClient(
            transport=httpx.AsyncHTTPTransport(uds=str(daemon.socket)),
            base_url="http://sfm" + PREFIX,
            timeout=60,
        ) as http:
            started = await http.post("/sweeps", json={"topic": "registration"})
        if started.status_code != 202:
            raise SystemExit(f"POST /sweeps: {started.status_code} {started.text}")
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline:
            if daemon.process.poll() is not None:
                raise SystemExit(f"the daemon died: {daemon.output()}")
            swept = await asyncio.to_thread(finished_sweep, engine)
            if swept is not None:
                if load:
                    load.swept = True
                    await asyncio.gather(*tasks)
                    load.lead_s = swept.started_at - began
                return swept
            await asyncio.sleep(0.5)
        raise SystemExit("the sweep did not finish within 900 s")

    try:
        sweep = asyncio.run(watched())
    finally:
        engine.dispose()
        daemon.stop()
    if sweep.found != FACTORIES:
        raise SystemExit(f"the sweep found {sweep.found} of {FACTORIES}")
    return sweep, load


def bench_under_load(database: Path, scratch: Path) -> bool:
    port = free_port()
    simulator = start_simulator(port)
    upstream = f"http://127.0.0.1:{port}"
    try:
        alone, _ = sweep_once(database, scratch / "alone", upstream, clients=0)
        print(
            f"    sweep alone, started by POST /sweeps: {alone.wall_s:.2f} s "
            f"(fetching {alone.fetched_s:.2f} s, rules {alone.rules_s:.2f} s) [{load_average()}]"
        )
        loaded, load = sweep_once(database, scratch / "loaded", upstream, clients=CLIENTS)
    finally:
        simulator.terminate()
        simulator.wait(timeout=10)
    assert load is not None
    print(
        f"    sweep beside {CLIENTS} clients: {loaded.wall_s:.2f} s "
        f"(fetching {loaded.fetched_s:.2f} s, rules {loaded.rules_s:.2f} s), the clients "
        f"started {load.lead_s:.1f} s before it [{load_average()}]"
    )
    latencies = sorted(load.latencies)
    p95 = latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))]
    ok = True
    ratio = p95 / P95_BOUND_S
    print(
        f"(b) {CLIENTS} clients (asyncio, one httpx.AsyncClient each over the socket), "
        f"flags list and show in turn during a sweep of {FACTORIES} factories: "
        f"{len(latencies)} requests, p50 {statistics.median(latencies):.3f} s, "
        f"p95 {p95:.3f} s, max {latencies[-1]:.3f} s; bound {P95_BOUND_S:.2f} s; "
        f"ratio {ratio:.3f} {verdict(ratio)} [{load_average()}]"
    )
    ok &= ratio <= 1.0
    print(
        f"(b) errors: {len(load.errors)}; bound 0; "
        + ("OK" if not load.errors else "OVER BOUND: " + " | ".join(load.errors[:3]))
    )
    ok &= not load.errors
    slowdown = loaded.wall_s / alone.wall_s
    ratio = slowdown / SWEEP_SLOWDOWN_BOUND
    print(
        f"(b) sweep wall time with clients / without: {loaded.wall_s:.2f} / {alone.wall_s:.2f} s "
        f"= {slowdown:.3f}; bound {SWEEP_SLOWDOWN_BOUND:.2f}; ratio {ratio:.3f} {verdict(ratio)}"
    )
    return ok and ratio <= 1.0


def bench_commands(database: Path, scratch: Path, parts: str) -> bool:
    """(a) and (i) with a daemon, then (c) without one, on the same folder."""
    config = daemon_folder(database, scratch / "commands", "http://127.0.0.1:9")
    folder = config.parent
    ok = True
    if "a" in parts:
        daemon = RunningDaemon(config)
        try:
            ok &= report_command(
                f"(a) sfm flags list (first page) through the daemon, {FLAGS} flags",
                timed_runs(sfm(config, "flags", "list"), folder, RUNS),
                COMMAND_BOUND_S,
            )
            ok &= report_command(
                "(a) sfm flags show ID through the daemon",
                timed_runs(sfm(config, "flags", "show", str(FLAGS // 2)), folder, RUNS),
                COMMAND_BOUND_S,
            )
            ok &= report_command(
                "(a) sfm status through the daemon",
                timed_runs(sfm(config, "status"), folder, RUNS),
                COMMAND_BOUND_S,
            )
            import_breakdown(config, folder, "through the daemon")
            answers = []
            with daemon.http() as http:
                for path, params in (
                    ("/flags", PAGE),
                    (f"/flags/{FLAGS // 2}", {}),
                    ("/status", {}),
                ):
                    times = []
                    for _ in range(RUNS + 1):
                        started = time.perf_counter()
                        http.get(path, params=params).raise_for_status()
                        times.append(time.perf_counter() - started)
                    answers.append(f"{path} {statistics.median(times[1:]) * 1000:.0f} ms")
            print(
                "(i) the daemon's answer to a client already started and connected, median: "
                + ", ".join(answers)
                + f" [{load_average()}]"
            )
            floors = {
                "python -c pass": [sys.executable, "-c", "pass"],
                "python -c 'import typer, httpx'": [sys.executable, "-c", "import typer, httpx"],
            }
            print(
                "(i) the floor, median of the same runs: "
                + ", ".join(
                    f"{label} {statistics.median(timed_runs(argv, folder, RUNS).wall):.3f} s"
                    for label, argv in floors.items()
                )
                + f" [{load_average()}]"
            )
        finally:
            daemon.stop()
    if "c" in parts:
        ok &= report_command(
            f"(c) sfm flags list (first page) direct, no daemon, {FLAGS} flags",
            timed_runs(sfm(config, "flags", "list"), folder, RUNS),
            DIRECT_BOUND_S,
        )
        import_breakdown(config, folder, "direct")
    return ok


def main() -> int:
    # SFM_BENCH_PARTS: which of (a) (with (i)), (b) and (c) to run; all by default
    parts = os.environ.get("SFM_BENCH_PARTS", "abc")
    with tempfile.TemporaryDirectory() as name:
        scratch = Path(name)
        started = time.perf_counter()
        database = template(scratch)
        print(
            f"setup: {FACTORIES} factories, {FLAGS} flags in {time.perf_counter() - started:.1f} s"
        )
        ok = bench_commands(database, scratch, parts)
        if "b" in parts:
            ok &= bench_under_load(database, scratch)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
