"""`sfm run` as a process: it sweeps and alerts on schedule, stops cleanly, leads alone."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from sqlalchemy import Engine, select
from sqlmodel import col

from monitor.storage.db import session_scope
from monitor.storage.models import DaemonLeader, JobRun, Observation, SweepRun
from tests.integration.alerts.conftest import free_port
from tests.integration.daemon.conftest import (
    BUREAU,
    Daemon,
    SmtpServer,
    daemon_config,
    wait_for,
)


def _leader_pid(engine: Engine) -> int | None:
    with session_scope(engine) as session:
        row = session.get(DaemonLeader, 1)
        return row.pid if row else None


def test_the_daemon_emails_a_revocation_it_raised_and_stops_on_sigterm(
    register: Engine, database_url: str, tmp_path: Path, smtp: SmtpServer, daemons: list[Daemon]
) -> None:
    config = daemon_config(tmp_path, database_url, {"municipal": [smtp.url(BUREAU)]})
    daemon = Daemon(config, tmp_path)
    daemons.append(daemon)
    revocations = wait_for(
        lambda: [m for m in smtp.mails if "撤销" in m.subject],
        timeout=60,
        what="a revocation email",
    )
    assert BUREAU in revocations[0].rcpt_tos
    assert "疑似撤销情形：第十二条第（" in revocations[0].subject  # suspects, never decides
    started = time.monotonic()
    assert daemon.stop(signal.SIGTERM) == 0, daemon.log()
    assert time.monotonic() - started < 30
    with session_scope(register) as session:
        statuses = set(session.scalars(select(col(SweepRun.status))))
        assert "running" not in statuses and "completed" in statuses
        assert session.get(DaemonLeader, 1) is None  # the leader let go on its way out


def test_sigterm_mid_sweep_stores_what_was_asked_and_exits_zero(
    register: Engine, database_url: str, tmp_path: Path, daemons: list[Daemon]
) -> None:
    # 300 ms an answer, 8 in flight: a sweep of 34 factories takes over a second
    config = daemon_config(tmp_path, database_url, {}, extra="")
    config.write_text(
        config.read_text(encoding="utf-8").replace(
            "[simulator]\n", "[simulator]\nlatency_ms = 300\n"
        ),
        encoding="utf-8",
    )
    daemon = Daemon(config, tmp_path)
    daemons.append(daemon)

    def sweeping() -> bool:
        with session_scope(register) as session:
            return (
                session.scalars(
                    select(col(SweepRun.id)).where(col(SweepRun.status) == "running")
                ).first()
                is not None
            )

    wait_for(sweeping, timeout=60, what="a sweep under way")
    time.sleep(0.5)
    started = time.monotonic()
    assert daemon.stop(signal.SIGTERM) == 0, daemon.log()
    assert time.monotonic() - started < 30
    with session_scope(register) as session:
        runs = list(session.scalars(select(SweepRun)))
        assert all(run.status in ("completed", "interrupted") for run in runs)
        assert all(run.finished_at is not None for run in runs)
        stopped = [run for run in runs if run.status == "interrupted"]
        assert stopped, "the sweep under way was recorded as interrupted"
        # what it had asked is stored: its tally and its rows agree
        for run in stopped:
            stored = session.scalars(
                select(col(Observation.id)).where(col(Observation.sweep_id) == run.id)
            ).all()
            answers = sum(
                tally["found"] + tally["not_found"] + tally["errors"]
                for tally in run.summary["connectors"].values()
            )
            assert len(stored) <= answers


def test_a_second_daemon_is_refused_and_named_the_holder(
    register: Engine, database_url: str, tmp_path: Path, daemons: list[Daemon]
) -> None:
    config = daemon_config(tmp_path, database_url, {})
    first = Daemon(config, tmp_path)
    daemons.append(first)
    wait_for(lambda: _leader_pid(register) == first.pid, what="the first daemon to lead")
    second = subprocess.run(
        [sys.executable, "-m", "monitor.cli", "--config", str(config), "run"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "SFM_LANG": "en"},
        check=False,
    )
    assert second.returncode == 3, second.stderr
    assert f"pid {first.pid}" in second.stderr
    assert socket.gethostname() in second.stderr
    assert first.process.poll() is None  # the leader is untouched
    status = subprocess.run(
        [sys.executable, "-m", "monitor.cli", "--config", str(config), "status", "--json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    report = json.loads(status.stdout)
    assert report["leader"]["pid"] == first.pid
    assert {job["id"] for job in report["jobs"]} >= {"registration-sweep", "filing-reminder"}
    assert all(job["next_run"] for job in report["jobs"])
    assert isinstance(report["measures"]["days_left"], int)


def test_a_standby_takes_over_when_the_leader_is_killed(
    register: Engine, database_url: str, tmp_path: Path, daemons: list[Daemon]
) -> None:
    config = daemon_config(tmp_path, database_url, {}, extra="[daemon]\nstandby_poll_s = 0.5\n")
    leader = Daemon(config, tmp_path, name="leader")
    daemons.append(leader)
    wait_for(lambda: _leader_pid(register) == leader.pid, what="the leader")
    standby = Daemon(config, tmp_path, "--standby", name="standby")
    daemons.append(standby)
    time.sleep(2)
    assert standby.process.poll() is None, standby.log()
    assert _leader_pid(register) == leader.pid
    leader.stop(signal.SIGKILL)
    killed = time.monotonic()
    wait_for(lambda: _leader_pid(register) == standby.pid, timeout=20, what="the standby to lead")
    assert time.monotonic() - killed < 15

    def swept_since(moment: float) -> bool:
        with session_scope(register) as session:
            run = session.get(JobRun, "registration-sweep")
            return run is not None and run.outcome == "ok" and run.started_at.timestamp() > moment

    took_over = time.time()
    wait_for(lambda: swept_since(took_over), timeout=30, what="the standby's first sweep")
    assert standby.stop() == 0


def test_a_job_missed_while_down_runs_once_at_start_up(
    register: Engine, database_url: str, tmp_path: Path, daemons: list[Daemon]
) -> None:
    from monitor.clock import now_utc

    # The digest runs at 03:00 every day; it last ran two days ago, so today's (or
    # yesterday's) 03:00 was missed, and is within a three-day grace.
    config = daemon_config(
        tmp_path,
        database_url,
        {},
        extra='digest = "0 3 * * *"\nmisfire_grace_s = 259200\n',
    )
    long_ago = now_utc().replace(microsecond=0) - __import__("datetime").timedelta(days=2)
    with session_scope(register) as session:
        for job_id in ("digest", "overview"):
            session.add(JobRun(job_id=job_id, started_at=long_ago, outcome="ok"))
    daemon = Daemon(config, tmp_path)
    daemons.append(daemon)

    def ran(job_id: str) -> bool:
        with session_scope(register) as session:
            run = session.get(JobRun, job_id)
            return run is not None and run.started_at > long_ago and run.outcome == "ok"

    wait_for(lambda: ran("digest"), timeout=30, what="the missed digest")
    time.sleep(3)
    assert daemon.stop() == 0
    log_lines = (tmp_path / "sfm.log").read_text(encoding="utf-8").splitlines()
    starts = [line for line in log_lines if '"job started"' in line and '"digest"' in line]
    assert len(starts) == 1, starts  # once, not once per missed day
    # the weekly overview (Monday 09:00) was last run two days ago: run only if a Monday
    # 09:00 fell in between; either way never twice
    overview_starts = [
        line for line in log_lines if '"job started"' in line and '"overview"' in line
    ]
    assert len(overview_starts) <= 1


def test_healthz_and_metrics_answer_while_the_daemon_runs(
    register: Engine, database_url: str, tmp_path: Path, daemons: list[Daemon]
) -> None:
    port = free_port()
    config = daemon_config(tmp_path, database_url, {}, extra=f"[daemon]\nhttp_port = {port}\n")
    daemon = Daemon(config, tmp_path)
    daemons.append(daemon)

    def get(path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
                return answer.status, answer.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()
        except OSError:
            return 0, ""

    assert wait_for(lambda: get("/healthz")[0] == 200, what="/healthz")
    wait_for(
        lambda: 'sfm_answers_total{connector="registry-qcc",outcome="found"}' in get("/metrics")[1],
        timeout=60,
        what="a sweep counted",
    )
    status, metrics = get("/metrics")
    assert status == 200
    assert 'sfm_flags{severity="revocation",state="open"}' in metrics
    assert 'sfm_sweeps_total{status="completed"}' in metrics
    assert 'sfm_job_duration_seconds_count{job="registration-sweep"}' in metrics
    assert 'sfm_job_last_success_timestamp_seconds{job="dispatch"}' in metrics
    assert get("/nothing")[0] == 404
    assert daemon.stop() == 0
