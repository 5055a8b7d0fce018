"""`make stress`, the door row: the daemon's API socket abused while sweeps run.

One `sfm run` on SQLite with sweeps every two seconds, started under systemd's default
descriptor limit (1,024), its API at the default cap (64 connections). Four abuses, one
after another, each while a legitimate caller asks for /status every half second through
the client the CLI uses: 1,000 idle connections; 300 requests whose first line is a
megabyte and never ends; a caller that asks for a long listing and never reads it; the
daemon SIGSTOPped for ten seconds, then continued. Judged by: every legitimate call answered,
or refused with a message (busy, did not answer in time), within 5 s; sweeps started
throughout (no gap of more than 6 s outside the stop, and one within 5 s of SIGCONT) and
none failed; the daemon's RSS within 100 MB of its start (psutil). SFM_STRESS_SCALE
scales the counts and the stop's length.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import resource
import signal
import socket
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psutil
from sqlalchemy import Engine, select
from sqlmodel import Session, col

from monitor.api.client import connect
from monitor.errors import SfmError
from monitor.i18n import using_language
from monitor.register.store import import_factories
from monitor.storage import db
from monitor.storage.models import SweepRun
from tests.conftest import DEMO_FACTORIES, REGISTRAR, shipped_connectors, write_config
from tests.integration.daemon.conftest import FAST_SCHEDULE, Daemon, wait_for
from tests.integration.daemon.test_door_abuse import many_flags

SCALE = float(os.environ.get("SFM_STRESS_SCALE", "1"))
PROMISE = "The door holds under abuse, and the jobs keep their schedule"
DESCRIPTORS = 1024  # systemd's default LimitNOFILE
ANSWER_BOUND_S = 5.0
CLIENT_TIMEOUT_S = 4.0  # SFM_API_TIMEOUT_S of the legitimate caller: told within the bound
RSS_BOUND_MB = 100.0
SWEEP_GAP_S = 6.0  # sweeps every 2 s: three periods without a start is a missed schedule
LISTED = 3000  # flags in the listing nobody reads: megabytes, more than a socket holds


def scaled(count: int, least: int = 2) -> int:
    return max(least, round(count * SCALE))


@dataclass
class Phase:
    name: str
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    ended: datetime | None = None
    calls: list[tuple[float, str]] = field(default_factory=list)  # seconds, outcome
    peak_mb: float = 0.0  # the daemon's RSS at its highest while the phase lasted

    def summary(self) -> str:
        took = [seconds for seconds, _ in self.calls]
        outcomes = Counter(outcome for _, outcome in self.calls)
        said = ", ".join(f"{count} {outcome}" for outcome, count in sorted(outcomes.items()))
        median = statistics.median(took) if took else float("nan")
        worst = max(took, default=float("nan"))
        return (
            f"{self.name}: {said}; median {median:.2f} s, worst {worst:.2f} s; "
            f"RSS peak {self.peak_mb:.0f} MB"
        )

    def held(self) -> bool:
        return bool(self.calls) and all(
            seconds <= ANSWER_BOUND_S and outcome in ("answered", "busy", "timeout")
            for seconds, outcome in self.calls
        )


class Caller:
    """A staff member asking for /status every half second while a phase lasts."""

    def __init__(self, config: Path, socket_path: Path) -> None:
        self.config, self.socket = config, socket_path
        self.phase: Phase | None = None
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._ask, daemon=True)
        self.thread.start()

    def _ask(self) -> None:
        while not self.stop.wait(0.5):
            phase = self.phase
            if phase is not None:
                phase.calls.append(self.once())

    def once(self) -> tuple[float, str]:
        with using_language("en"):  # its refusals in the words classified below
            return self._once()

    def _once(self) -> tuple[float, str]:
        started = time.monotonic()
        try:
            api = connect(str(self.config), str(self.socket))
            try:
                api.get("/status")
            finally:
                api.close()
            outcome = "answered"
        except SfmError as error:
            code = getattr(error, "code", "")
            text = str(error)
            outcome = (
                "busy" if code == "busy"
                else "timeout" if "did not answer in time" in text
                else f"other: {text[:80]}"
            )  # fmt: skip
        return time.monotonic() - started, outcome

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=30)


class Watch:
    """The daemon's RSS and descriptors, sampled every tenth of a second."""

    def __init__(self, pid: int) -> None:
        self.phase: Phase | None = None
        self.process = psutil.Process(pid)
        self.start_mb = self.rss_mb()
        self.peak_mb, self.peak_fds = self.start_mb, self.process.num_fds()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()

    def rss_mb(self) -> float:
        return float(self.process.memory_info().rss) / (1 << 20)

    def _sample(self) -> None:
        while not self.stop.wait(0.1):
            with contextlib.suppress(psutil.Error):
                now = self.rss_mb()
                self.peak_mb = max(self.peak_mb, now)
                if self.phase is not None:
                    self.phase.peak_mb = max(self.phase.peak_mb, now)
                self.peak_fds = max(self.peak_fds, self.process.num_fds())

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=10)


def service_limits() -> None:
    """In the daemon's child before exec: systemd's default LimitNOFILE."""
    resource.setrlimit(resource.RLIMIT_NOFILE, (DESCRIPTORS, DESCRIPTORS))


@contextlib.contextmanager
def phase(caller: Caller, watch: Watch, phases: list[Phase], name: str) -> Iterator[Phase]:
    current = Phase(name)
    phases.append(current)
    caller.phase = watch.phase = current
    try:
        yield current
    finally:
        caller.phase = watch.phase = None
        current.ended = datetime.now(UTC)


def connection(path: Path) -> socket.socket:
    raw = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    raw.settimeout(30)
    raw.connect(str(path))
    return raw


def at_once(count: int, each: Callable[[], socket.socket | None]) -> list[socket.socket]:
    """`each` in `count` threads started together; the connections they opened."""
    opened: list[socket.socket] = []
    go = threading.Event()

    def run() -> None:
        go.wait()
        with contextlib.suppress(OSError):
            made = each()
            if made is not None:
                opened.append(made)

    threads = [threading.Thread(target=run, daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    go.set()
    for thread in threads:
        thread.join(timeout=120)
    return opened


def sweep_starts(engine: Engine) -> list[tuple[datetime, str]]:
    with Session(engine) as session:
        rows = session.execute(select(col(SweepRun.started_at), col(SweepRun.status)))
        return sorted((started, status) for started, status in rows)


def widest_gap(starts: list[datetime], since: datetime, until: datetime) -> float:
    moments = [since, *(s for s in starts if since <= s <= until), until]
    return max((b - a).total_seconds() for a, b in itertools.pairwise(moments))


def door_under_abuse(folder: Path) -> tuple[str, str, str, bool]:
    """The row's (promise, tried, outcome, held)."""
    idle, oversized = scaled(1000, least=20), scaled(300, least=6)
    stopped_s = 10.0 if SCALE >= 1 else 3.0
    io_timeout_s = 15.0 if SCALE >= 1 else 4.0
    cap = 64 if SCALE >= 1 else 8  # the default; at a small scale, one the idle ones fill
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4 * idle + 256)), hard))
    url = f"sqlite:///{folder / 'sfm.db'}"
    engine = db.make_engine(url)
    db.upgrade(engine)
    import_factories(engine, DEMO_FACTORIES, operator=REGISTRAR)
    many_flags(engine, LISTED)
    socket_path = folder / "sfm.sock"
    config = write_config(
        folder,
        url,
        FAST_SCHEDULE
        + shipped_connectors()
        + f'[daemon]\nsocket = "{socket_path}"\nio_timeout_s = {io_timeout_s}\n'
        + f"max_connections = {cap}\n",
    )
    previous_timeout = os.environ.get("SFM_API_TIMEOUT_S")
    os.environ["SFM_API_TIMEOUT_S"] = str(CLIENT_TIMEOUT_S)
    daemon = Daemon(config, folder, name="door", preexec_fn=service_limits)
    phases: list[Phase] = []
    caller: Caller | None = None
    watch: Watch | None = None
    stalled_closed = False
    try:
        wait_for(socket_path.is_socket, timeout=60, what="the door to open")
        caller = Caller(config, socket_path)
        wait_for(lambda: caller.once()[1] == "answered", what="a first answer")
        wait_for(lambda: len(sweep_starts(engine)) >= 3, timeout=60, what="sweeps")
        watch = Watch(daemon.pid)

        with phase(caller, watch, phases, "quiet"):
            time.sleep(3)

        with phase(caller, watch, phases, f"{idle:,} idle connections"):
            held = at_once(idle, lambda: connection(socket_path))
            print(f"   {len(held):,} of {idle:,} idle connections made", flush=True)
            time.sleep(io_timeout_s + 2)  # the admitted ones are closed meanwhile
            for raw in held:
                raw.close()

        with phase(caller, watch, phases, f"{oversized} unterminated 1 MB requests"):

            def unterminated() -> socket.socket:
                raw = connection(socket_path)
                with contextlib.suppress(OSError):  # refused before all of it went
                    raw.sendall(b"GET /" + b"a" * (1 << 20))
                return raw

            held = at_once(oversized, unterminated)
            time.sleep(3)
            for raw in held:
                raw.close()

        with phase(caller, watch, phases, "a reader that stops"):
            stalled = connection(socket_path)
            asked = f"GET /api/v1/flags?limit={LISTED} HTTP/1.1\r\nHost: sfm\r\n\r\n"
            stalled.sendall(asked.encode())
            asked_at = time.monotonic()
            with contextlib.suppress(AssertionError):
                wait_for(
                    lambda: "closing a stalled API connection" in _read(folder / "sfm.log"),
                    timeout=io_timeout_s + 60,
                    what="the watchdog",
                )
            cut_after_s = time.monotonic() - asked_at
            stalled.settimeout(5)
            received = b""
            with contextlib.suppress(OSError):
                while chunk := stalled.recv(1 << 16):
                    received += chunk
            head, _, body = received.partition(b"\r\n\r\n")
            length = next(
                (int(line.split(b":")[1]) for line in head.split(b"\r\n")
                 if line.lower().startswith(b"content-length")),
                0,
            )  # fmt: skip
            stalled_closed = 0 < len(body) < length  # cut off by the watchdog, then closed
            print(
                f"   the reader that stops: {length / (1 << 20):.1f} MB answer, "
                f"{len(body) / (1 << 20):.1f} MB of it taken, cut {cut_after_s:.1f} s after "
                f"it asked (io_timeout_s {io_timeout_s:.0f})",
                flush=True,
            )
            stalled.close()

        with phase(caller, watch, phases, f"SIGSTOP for {stopped_s:.0f} s"):
            daemon.process.send_signal(signal.SIGSTOP)
            time.sleep(stopped_s)
            daemon.process.send_signal(signal.SIGCONT)
            continued = datetime.now(UTC)
            time.sleep(5)
    finally:
        if caller is not None:
            caller.close()
        if watch is not None:
            watch.close()
        log = daemon.log() + _read(folder / "sfm.log")
        daemon.kill()
        if previous_timeout is None:
            os.environ.pop("SFM_API_TIMEOUT_S", None)
        else:
            os.environ["SFM_API_TIMEOUT_S"] = previous_timeout

    assert watch is not None
    runs = sweep_starts(engine)
    engine.dispose()
    starts = [started for started, _ in runs]
    failed = sum(1 for started, status in runs if status not in ("completed", "running")
                 and started >= phases[0].started)  # fmt: skip
    gaps = {
        p.name: widest_gap(starts, p.started, p.ended or p.started)
        for p in phases
        if not p.name.startswith("SIGSTOP")
    }
    resumed = min(
        ((s - continued).total_seconds() for s in starts if s >= continued), default=float("inf")
    )
    grown = watch.peak_mb - watch.start_mb
    out_of_files = log.count("Too many open files")
    for line in (
        *(p.summary() for p in phases),
        f"sweeps: {len(starts)} started, {failed} failed; widest gap "
        + ", ".join(f"{name} {gap:.1f} s" for name, gap in gaps.items())
        + f"; first after SIGCONT {resumed:.1f} s",
        f"RSS {watch.start_mb:.0f} MB at start, peak {watch.peak_mb:.0f} MB (+{grown:.0f} MB); "
        f"descriptors peak {watch.peak_fds} of {DESCRIPTORS}; 'Too many open files' {out_of_files}",
    ):
        print(f"   {line}", flush=True)
    held_all = (
        all(p.held() for p in phases)
        and all(gap <= SWEEP_GAP_S for gap in gaps.values())
        and resumed <= ANSWER_BOUND_S
        and not failed
        and grown <= RSS_BOUND_MB
        and not out_of_files
        and stalled_closed
    )
    worst = max((seconds for p in phases for seconds, _ in p.calls), default=float("nan"))
    return (
        PROMISE,
        f"{idle:,} idle connections, {oversized} unterminated 1 MB requests, a reader that "
        f"stops on a {LISTED:,}-flag listing, SIGSTOP for {stopped_s:.0f} s; sweeps every 2 s, "
        f"LimitNOFILE {DESCRIPTORS}, max_connections {cap}, a caller every 0.5 s",
        f"{sum(len(p.calls) for p in phases)} calls, worst {worst:.2f} s (bound "
        f"{ANSWER_BOUND_S:.0f} s), "
        f"{sum(1 for p in phases for _, o in p.calls if o not in ('answered', 'busy', 'timeout'))}"
        f" not answered or told; {len(starts)} sweeps, widest gap "
        f"{max(gaps.values(), default=0):.1f} s, {failed} failed, first {resumed:.1f} s after "
        f"SIGCONT; RSS +{grown:.0f} MB (bound {RSS_BOUND_MB:.0f}); descriptors peak "
        f"{watch.peak_fds}; the stopped reader " + ("cut off" if stalled_closed else "NOT cut off"),
        held_all,
    )


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8") if path.exists() else ""
