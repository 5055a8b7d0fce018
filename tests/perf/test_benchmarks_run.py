"""The benchmarks still run: each, on a handful of factories, prints every figure it owes.

Nothing here judges speed (the figures of so few factories mean nothing); it
catches a benchmark that a change to the code broke, which otherwise only
`make bench` would find. A bound missed even at this scale is not passed over in
silence: exit 1 is accepted only with the figure that says so (NOT MET, OVER
BOUND), and is reported as a warning naming it.
"""

import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

PERF = Path(__file__).parent
MISSED = ("NOT MET", "OVER BOUND")  # how a benchmark says a figure missed its bound


@pytest.mark.parametrize(
    ("bench", "figures"),
    [
        ("bench_sweep.py", ["(a) rate-bound sweep", "(b) latency-bound sweep", "(c) three topics"]),
        ("bench_rules.py", ["(a) evaluation of", "(b) sfm flags list"]),
        ("bench_delivery.py", ["(a) revocation flag → SMTP accepted, behind a backlog"]),
    ],
)
def test_a_benchmark_runs_to_the_end_and_prints_its_figures(bench: str, figures: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, str(PERF / bench)],
        env={**os.environ, "SFM_BENCH_FACTORIES": "30", "SFM_BENCH_BACKLOG": "200"},
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    for figure in figures:
        assert figure in done.stdout, done.stdout
    missed = [line for line in done.stdout.splitlines() if any(m in line for m in MISSED)]
    if done.returncode == 1:  # a bound missed: only with the figure that says so
        assert missed, done.stdout + done.stderr[-3000:]
        warnings.warn(f"{bench} missed a bound: {' | '.join(missed)}", stacklevel=1)
    else:
        assert done.returncode == 0 and not missed, done.stdout + done.stderr[-3000:]
