"""`make stress` at a small scale: every promise is tried and holds.

The full run (`make stress`: 1,000 faults, 50 crashes, 1,000 race rounds per
database, 2,000 fuzz examples) is not part of `make test`; this is its reduced
version, so that a change that breaks a promise, or the stress run itself,
fails here first.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

STRESS = Path(__file__).with_name("stress.py")


@pytest.mark.postgres
@pytest.mark.timeout(900)
def test_every_promise_holds_at_a_small_scale(postgres_available: None) -> None:
    done = subprocess.run(
        [sys.executable, str(STRESS)],
        env={**os.environ, "SFM_STRESS_SCALE": "0.02"},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert "Traceback" not in done.stdout + done.stderr, (done.stdout + done.stderr)[-4000:]
    assert done.returncode == 0, done.stdout[-4000:]
    table = done.stdout
    for promise in (
        "fault is reported",
        "crosses its threshold",
        "crash loses nothing",
        "SQLite",
        "PostgreSQL",
        "caller's uid",
        "Hostile input",
        "slow mail server",
        "lock session is ended",
        "database outage leaves one leader",
        "SQLite file is deleted",
        "wall clock set back",
        "audit entry changed",
        "Memory holds steady",
        "door holds under abuse",
    ):
        assert promise in table, promise
    held = held_column(table)
    assert "NO" not in held, table
    if Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1").exists():
        assert "skipped" not in held, table  # tried where it can be


def held_column(table: str) -> list[str]:
    """The table's last column, cell by cell: each row's "yes", "NO" or "skipped" (a
    promise's own words, such as LimitNOFILE, are in the other columns)."""
    return [cells[-2].strip() for line in table.splitlines() if len(cells := line.split("│")) > 2]
