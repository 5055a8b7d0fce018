"""Reads are answered by worker processes beside the daemon, at a lower CPU priority, so
that staff reading never hold the daemon's interpreter while it sweeps (issue 20); a worker
that dies is replaced and the read asked again."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from sqlalchemy import Engine

from monitor.api.protocol import PREFIX
from tests.conftest import write_config
from tests.integration.daemon.conftest import Daemon, accepting, wait_for
from tests.integration.test_flags import swept  # noqa: F401  (fixture)


def children_of(daemon: Daemon) -> set[int]:
    return {child.pid for child in psutil.Process(daemon.pid).children()}


def readers_of(daemon: Daemon) -> dict[int, int]:
    """The daemon's reading workers (spawned: their command line says so) and their nice."""
    found = {}
    for child in psutil.Process(daemon.pid).children():
        with contextlib.suppress(psutil.Error):  # one that ended meanwhile
            if any("spawn_main" in part for part in child.cmdline()):
                found[child.pid] = child.nice()
    return found


@pytest.fixture
def running(
    swept: Engine,  # noqa: F811
    database_url: str,
    tmp_path: Path,
) -> Iterator[tuple[Daemon, httpx.Client]]:
    socket = tmp_path / "sfm.sock"
    config = write_config(tmp_path, database_url, f'[daemon]\nsocket = "{socket}"\n')
    daemon = Daemon(config, tmp_path)
    client = httpx.Client(
        transport=httpx.HTTPTransport(uds=str(socket)), base_url="http://sfm" + PREFIX, timeout=60
    )
    try:
        wait_for(lambda: accepting(socket), what="the API to accept connections")
        yield daemon, client
    finally:
        client.close()
        daemon.kill()


def test_reads_are_answered_by_a_lower_priority_worker(
    running: tuple[Daemon, httpx.Client],
) -> None:
    daemon, client = running
    listing = client.get("/flags", params={"limit": 5})
    assert listing.status_code == 200 and listing.json(), listing.text
    workers = wait_for(lambda: readers_of(daemon), what="a reading worker")
    assert len(workers) == 1  # [daemon] readers, 1 by default
    assert set(workers.values()) == {min(19, os.nice(0) + 19)}  # the lowest priority
    shown = client.get(f"/flags/{listing.json()[0]['id']}")
    assert shown.status_code == 200 and shown.json()["id"] == listing.json()[0]["id"]
    missing = client.get("/flags/999999")  # errors come back from the worker as they were
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert client.get("/status").status_code == 200


def test_a_killed_worker_is_replaced_and_the_read_answered(
    running: tuple[Daemon, httpx.Client],
) -> None:
    daemon, client = running
    assert client.get("/flags").status_code == 200
    [worker] = wait_for(lambda: readers_of(daemon), what="a reading worker")
    os.kill(worker, signal.SIGKILL)
    wait_for(lambda: worker not in children_of(daemon), what="the worker to be gone")
    again = client.get("/flags", params={"limit": 3})
    assert again.status_code == 200 and len(again.json()) == 3, again.text
    replaced = wait_for(lambda: readers_of(daemon), what="a new reading worker")
    assert worker not in replaced and len(replaced) == 1
    assert "a reading worker died" in daemon.log()


def test_without_readers_the_daemon_answers_reads_itself(
    swept: Engine,  # noqa: F811
    database_url: str,
    tmp_path: Path,
) -> None:
    socket = tmp_path / "sfm.sock"
    config = write_config(tmp_path, database_url, f'[daemon]\nsocket = "{socket}"\nreaders = 0\n')
    daemon = Daemon(config, tmp_path)
    try:
        wait_for(lambda: accepting(socket), what="the API to accept connections")
        with httpx.Client(
            transport=httpx.HTTPTransport(uds=str(socket)), base_url="http://sfm" + PREFIX
        ) as client:
            assert client.get("/flags").status_code == 200
        assert readers_of(daemon) == {}
    finally:
        daemon.kill()


def test_workers_end_with_a_daemon_killed_outright(
    running: tuple[Daemon, httpx.Client],
) -> None:
    daemon, client = running
    assert client.get("/flags").status_code == 200
    workers = wait_for(lambda: readers_of(daemon), what="a reading worker")
    daemon.kill()  # SIGKILL: nothing of the daemon's own runs
    wait_for(
        lambda: not any(psutil.pid_exists(pid) for pid in workers),
        timeout=10,
        what="the workers to end with the daemon",
    )
