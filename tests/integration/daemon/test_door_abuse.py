"""The door holds under abuse, at a small scale (`make stress` has the door row at full).

One daemon on SQLite with its seconds-level schedule, at most 4 connections at once and
2 s of silence allowed on a connection; abusers speak raw bytes on the socket, legitimate
callers use the client (monitor.api.client) or the `sfm` command line.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psutil
import pytest
from sqlalchemy import Engine, insert, select
from sqlmodel import Session, col

from monitor.api.client import ApiError, connect
from monitor.storage.models import Factory, Flag, JobRun
from tests.conftest import shipped_connectors, write_config
from tests.integration.daemon.conftest import FAST_SCHEDULE, Daemon, one_line, wait_for

CAP, IO_TIMEOUT_S = 4, 2
LIMITS = (
    f'[daemon]\nsocket = "{{socket}}"\nmax_connections = {CAP}\nio_timeout_s = {IO_TIMEOUT_S}\n'
)
MANY_FLAGS = 3000  # a listing of them is megabytes: more than a socket's buffers hold


@dataclass
class Door:
    daemon: Daemon
    path: Path
    config: Path
    engine: Engine

    def connection(self) -> socket.socket:
        raw = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        raw.settimeout(30)
        raw.connect(str(self.path))
        return raw

    def rss_mb(self) -> float:
        return float(psutil.Process(self.daemon.pid).memory_info().rss) / (1 << 20)

    def log_text(self) -> str:
        return (self.config.parent / "sfm.log").read_text(encoding="utf-8")

    def said(self, event: str) -> list[dict[str, object]]:
        log = self.config.parent / "sfm.log"
        entries = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
        return [entry for entry in entries if entry.get("event") == event]

    def status_answered(self) -> bool:
        """A legitimate caller, through the client the CLI uses."""
        api = connect(str(self.config), str(self.path))
        try:
            return "jobs" in api.get("/status")
        finally:
            api.close()


def many_flags(engine: Engine, count: int) -> None:
    now = datetime.now(UTC)
    with Session(engine) as session:
        factories = list(session.scalars(select(col(Factory.id))))
    rows = [
        {
            "fingerprint": f"door{n:060x}",
            "rule_id": "data-unknown-status",
            "clause": "12(5)",
            "severity": "review",
            "factory_id": factories[n % len(factories)],
            "topic": "credit",
            "evidence_key": f"door:{n}",
            "state": "dismissed",
            "summary_key": "finding.unknown_status",
            "summary_params": {"raw_status": "待核实" * 20},
            "evidence": {"source": "door", "note": "长" * 200},
            "first_seen_at": now,
            "last_seen_at": now,
            "state_changed_at": now,
        }
        for n in range(count)
    ]
    with engine.begin() as connection:
        connection.execute(insert(Flag), rows)


@pytest.fixture
def door(register: Engine, database_url: str, tmp_path: Path) -> Iterator[Door]:
    many_flags(register, MANY_FLAGS)
    socket_path = tmp_path / "sfm.sock"
    config = write_config(
        tmp_path,
        database_url,
        FAST_SCHEDULE + shipped_connectors() + LIMITS.format(socket=socket_path),
    )
    private = tmp_path / "tmp"  # the daemon's temporary files (exports, uploads)
    private.mkdir()
    daemon = Daemon(config, tmp_path, environ={"TMPDIR": str(private)})
    try:
        wait_for(socket_path.is_socket, what="the door to open")
        yield Door(daemon, socket_path, config, register)
    finally:
        daemon.kill()


def sfm(door: Door, *argv: str, **environ: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SFM_LANG": "zh", **environ}
    env.pop("SFM_OPERATOR", None)
    return subprocess.run(
        [sys.executable, "-m", "monitor.cli", "--config", str(door.config), *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def swept_since(engine: Engine, moment: datetime) -> bool:
    """A scheduled sweep started after `moment` and finished well."""
    with Session(engine) as session:
        run = session.get(JobRun, "registration-sweep")
        return bool(run and run.started_at > moment and run.outcome == "ok")


def read_to_end(connection: socket.socket) -> bytes:
    """Whatever the daemon sent before it closed the connection (a close with our bytes
    still unread ends in ECONNRESET after them)."""
    received = b""
    try:
        while chunk := connection.recv(1 << 16):
            received += chunk
    except ConnectionResetError:
        pass
    return received


class Trickle:
    """Connections held open by a request body that comes a byte at a time (a header must
    be finished within the timeout; a body must only keep coming)."""

    def __init__(self, door: Door, count: int) -> None:
        self.connections = [door.connection() for _ in range(count)]
        for connection in self.connections:
            connection.sendall(
                b"GET /api/v1/flags HTTP/1.1\r\nHost: sfm\r\nContent-Type: application/json\r\n"
                b"Content-Length: 60000\r\n\r\n"
            )
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._trickle, daemon=True)
        self.thread.start()

    def _trickle(self) -> None:
        while not self.stop.wait(IO_TIMEOUT_S / 4):
            for connection in self.connections:
                connection.sendall(b" ")

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=10)
        for connection in self.connections:
            connection.close()


# ---------------------------------------------------------------- the tests


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_past_the_cap_the_next_is_told_busy_while_sweeps_run(door: Door) -> None:
    held = Trickle(door, CAP)
    try:
        filled = datetime.now(UTC)
        time.sleep(0.5)
        busy = sfm(door, "status")
        assert busy.returncode == 3, busy.stdout + busy.stderr
        said = one_line(busy.stderr)
        assert said == f"sfm: 守护进程繁忙：同时连接数已达上限（{CAP}）；请稍后再试"
        wait_for(lambda: swept_since(door.engine, filled), what="a sweep while the cap is held")
    finally:
        held.close()
    assert wait_for(door.status_answered, what="an answer once the connections are gone")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_unfinished_and_oversized_requests_are_closed_or_refused(door: Door) -> None:
    started_mb = door.rss_mb()
    unfinished = door.connection()
    unfinished.sendall(b"GET /api/v1/status HTTP/1.1\r\nHost: sfm\r\n")  # never ends
    body_pending = door.connection()
    body_pending.sendall(
        b"GET /api/v1/flags HTTP/1.1\r\nHost: sfm\r\nContent-Length: 1000\r\n\r\n{"
    )
    assert read_to_end(unfinished) == b""  # closed by the daemon (aiohttp), not answered
    assert read_to_end(body_pending) == b""
    assert door.said("closing a stalled API connection")  # the body's: the watchdog

    oversized = door.connection()
    oversized.sendall(
        b"GET /api/v1/flags HTTP/1.1\r\nHost: sfm\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000000\r\n\r\n" + b" " * 100_000
    )
    head, _, body = read_to_end(oversized).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413")
    assert json.loads(body)["error"]["code"] == "too_large"

    for _ in range(5):  # a megabyte of header line, then nothing, a few batches of them
        lines = []
        for _ in range(CAP + 4):
            line = door.connection()
            with contextlib.suppress(OSError):  # refused before all of it was sent
                line.sendall(b"GET /" + b"a" * (1 << 20))
            lines.append(line)
        for line in lines:
            answer = read_to_end(line)
            assert answer.startswith((b"HTTP/1.0 400", b"HTTP/1.1 503")), answer[:80]
            line.close()
    assert door.said("refused a malformed API request")  # one line each, no traceback
    assert "Error handling request" not in door.log_text()
    grown = door.rss_mb() - started_mb
    print(f"RSS {started_mb:.0f} MB before, grown by {grown:.1f} MB")
    assert grown < 50
    assert door.status_answered()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_client_that_never_reads_its_answer_holds_nothing(door: Door) -> None:
    stalled = door.connection()
    stalled.sendall(f"GET /api/v1/flags?limit={MANY_FLAGS} HTTP/1.1\r\nHost: sfm\r\n\r\n".encode())
    time.sleep(0.5)  # the answer is written, and waits for a reader that never comes
    assert door.status_answered()  # others are answered meanwhile
    wait_for(lambda: door.said("closing a stalled API connection"), what="the watchdog to close it")
    received = read_to_end(stalled)
    head, _, body = received.partition(b"\r\n\r\n")
    length = content_length(head)
    assert length > 1 << 20
    assert len(body) < length  # cut off: the daemon let go of it
    [closed] = door.said("closing a stalled API connection")
    assert int(str(closed["unsent_bytes"])) > 0
    assert "Error handling request" not in door.log_text()


def content_length(head: bytes) -> int:
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    raise AssertionError(head)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_client_that_never_reads_its_export_holds_nothing(door: Door) -> None:
    """The export is written in a private folder and streamed; a reader that stops is cut
    off by the watchdog and the folder goes with it."""
    private = door.config.parent / "tmp"
    stalled = door.connection()
    stalled.sendall(b"GET /api/v1/exports/flags?format=csv HTTP/1.1\r\nHost: sfm\r\n\r\n")
    wait_for(lambda: list(private.glob("sfm-export-*")), what="the export being written")
    assert door.status_answered()  # others are answered meanwhile
    wait_for(lambda: door.said("closing a stalled API connection"), what="the watchdog to close it")
    wait_for(lambda: not list(private.glob("sfm-export-*")), what="the export's folder removed")
    head, _, body = read_to_end(stalled).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert len(body) < content_length(head)  # cut off
    assert not [f for f in psutil.Process(door.daemon.pid).open_files() if "sfm-export" in f.path]
    assert door.said("an API caller stopped taking its download")  # told, not an error
    assert "Error handling request" not in door.log_text()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_stopped_daemon_is_given_up_on_with_a_message(door: Door) -> None:
    door.daemon.process.send_signal(signal.SIGSTOP)
    try:
        stopped = sfm(door, "status", SFM_API_TIMEOUT_S="2")
        # a change sent to it is not said to be lost: it is read once the daemon runs again
        sent = sfm(door, "alerts", "retry", "--failed", SFM_API_TIMEOUT_S="2")
    finally:
        door.daemon.process.send_signal(signal.SIGCONT)
    assert stopped.returncode == 3
    assert "未在规定时间内应答" in one_line(stopped.stderr)
    assert "可能仍会生效" not in stopped.stderr
    assert str(door.path) in stopped.stderr
    assert sent.returncode == 3
    assert "未在规定时间内应答" in one_line(sent.stderr) and "可能仍会生效" in sent.stderr
    continued = datetime.now(UTC)

    def answered() -> bool:
        # the connections of the commands that gave up hold the small cap until it has
        # answered them: a caller meanwhile is refused with a message, as the cap says
        try:
            return door.status_answered()
        except ApiError as refused:
            assert refused.code == "busy", refused
            return False

    assert wait_for(answered, what="an answer once it runs again")
    wait_for(lambda: swept_since(door.engine, continued), what="sweeps once it runs again")
