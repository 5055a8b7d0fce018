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
    rows = table_rows(done.stdout)
    promises = " | ".join(row[0] for row in rows)
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
        assert promise in promises, (promise, done.stdout)
    held = [row[-1] for row in rows]
    assert "NO" not in held, done.stdout
    if Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1").exists():
        assert "skipped" not in held, done.stdout  # tried where it can be


def table_rows(table: str) -> list[list[str]]:
    """The table's rows, each a list of its cells' text: a cell rich folded over several
    lines is joined again (how a long promise folds depends on the figures beside it), and
    a promise's own words, such as LimitNOFILE, stay in their column."""
    rows: list[list[list[str]]] = []
    for line in table.splitlines():
        if line.startswith(("┡", "├")):  # the rule below the header, or between two rows
            rows.append([])
        elif rows and len(cells := line.split("│")) > 2:
            fragments = [cell.strip() for cell in cells[1:-1]]
            if not rows[-1]:
                rows[-1] = [[] for _ in fragments]
            for column, fragment in zip(rows[-1], fragments, strict=True):
                if fragment:
                    column.append(fragment)
    return [[" ".join(column) for column in row] for row in rows if row]
