"""The benchmarks still run: each, on a handful of factories, prints every figure it owes.

Nothing here judges speed (the figures of so few factories mean nothing, and a
bound may be missed); it catches a benchmark that a change to the code broke,
which otherwise only `make bench` would find.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

PERF = Path(__file__).parent


@pytest.mark.parametrize(
    ("bench", "figures"),
    [
        ("bench_sweep.py", ["(a) rate-bound sweep", "(b) latency-bound sweep", "(c) three topics"]),
        ("bench_rules.py", ["(a) evaluation of", "(b) sfm flags list"]),
    ],
)
def test_a_benchmark_runs_to_the_end_and_prints_its_figures(bench: str, figures: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, str(PERF / bench)],
        env={**os.environ, "SFM_BENCH_FACTORIES": "30"},
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    assert done.returncode in (0, 1), done.stderr[-3000:]  # 1: a bound missed, not a crash
    for figure in figures:
        assert figure in done.stdout, done.stdout
