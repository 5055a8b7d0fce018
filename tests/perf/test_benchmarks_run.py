"""The benchmarks still run: each, on a handful of factories, prints every figure it owes.

Nothing here judges speed or bounds (the figures of so few factories mean nothing, and a
bound is `make bench`'s to judge, by its exit code): it catches a benchmark that a change to
the code broke, which otherwise only `make bench` would find.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

PERF = Path(__file__).parent
TINY = {
    "SFM_BENCH_FACTORIES": "30",
    "SFM_BENCH_BACKLOG": "200",
    "SFM_BENCH_RUNS": "1",
    "SFM_BENCH_CLIENTS": "3",
    "SFM_BENCH_LOAD_S": "2",
}


@pytest.mark.parametrize(
    ("bench", "figures"),
    [
        (
            "bench_sweep.py",
            [
                "(a) rate-bound sweep",
                "(b) latency-bound sweep",
                "(b) information: the bare aiohttp loop",
                "(c) three topics",
            ],
        ),
        ("bench_rules.py", ["(a) evaluation of", "(a) peak RSS"]),
        ("bench_delivery.py", ["(a) revocation flag → SMTP accepted, behind a backlog"]),
        (
            "bench_api.py",
            [
                "(a) sfm flags list (first page) through the daemon",
                "(a) sfm flags show ID through the daemon",
                "(a) sfm status through the daemon",
                "(i) imports of sfm flags list (through the daemon)",
                "(i) imports of sfm flags list (direct)",
                "(i) the floor",
                "(i) the daemon's answer",
                "(c) sfm flags list (first page) direct",
                "(b) 3 clients",
                "(b) errors:",
                "(b) sweep wall time with clients / without",
            ],
        ),
    ],
)
def test_a_benchmark_runs_to_the_end_and_prints_its_figures(bench: str, figures: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, str(PERF / bench)],
        env={**os.environ, **TINY},
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    for figure in figures:
        assert figure in done.stdout, done.stdout + done.stderr[-3000:]
