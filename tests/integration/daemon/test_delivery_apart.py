"""Delivery is the dispatch job's, apart from the sweeps: a slow mail server never holds up
a sweep, and an alert that does not go out is the dispatch job's failure, never a sweep's."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlmodel import col

from monitor.alerts.service import alerting_for
from monitor.clock import now_utc
from monitor.config import load_config
from monitor.storage.db import session_scope
from monitor.storage.models import Alert, JobRun, SweepRun
from tests.conftest import Cli
from tests.integration.daemon.conftest import (
    BUREAU,
    Daemon,
    SmtpServer,
    daemon_config,
    wait_for,
)


def outcomes(engine: Engine) -> dict[str, str]:
    with session_scope(engine) as session:
        return {run.job_id: run.outcome for run in session.scalars(select(JobRun))}


@pytest.mark.parametrize("why", ["mail server down", "authority without a URL"])
def test_an_alert_that_does_not_go_out_fails_the_dispatch_job_never_the_sweep(
    why: str,
    register: Engine,
    database_url: str,
    tmp_path: Path,
    smtp: SmtpServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if why == "mail server down":
        smtp.stop()
        authorities = {"municipal": [smtp.url(BUREAU)], "ops": [smtp.url("ops@x.cn")]}
    else:  # the Article 14 warning's case: the bureau has no URL here
        authorities = {"ops": [smtp.url("ops@x.cn")]}
    config = daemon_config(tmp_path, database_url, authorities)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SFM_LANG", "en")
    result = Cli(capsys, config)("run", "--once")
    assert result.code == 1
    failed = [line for line in result.err.splitlines() if line.startswith("  ") or ": " in line]
    assert any("dispatch:" in line and "could not be handed over" in line for line in failed), (
        result.err
    )
    assert not any("sweep:" in line for line in failed), result.err
    ran = outcomes(register)
    assert ran["registration-sweep"] == ran["credit-sweep"] == ran["safety-sweep"] == "ok"
    assert ran["dispatch"] == "failed"
    with session_scope(register) as session:
        owed = set(
            session.scalars(
                select(col(Alert.status)).where(
                    col(Alert.authority) == "municipal", col(Alert.kind) == "flag"
                )
            )
        )
    # retried later when the server was down; failed (a configuration error) without a URL
    assert owed >= ({"pending"} if why == "mail server down" else {"failed"})


class SlowSmtp(SmtpServer):
    """A mail server that takes `delay_s` over each message."""

    delay_s = 0.25

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(self.delay_s)
        return await super().handle_DATA(server, session, envelope)


def test_sweeps_keep_their_schedule_while_a_slow_mail_server_works_through_a_backlog(
    register: Engine, database_url: str, tmp_path: Path, daemons: list[Daemon]
) -> None:
    smtp = SlowSmtp()
    smtp.start()
    try:
        authorities = {"municipal": [smtp.url(BUREAU)], "ops": [smtp.url("ops@x.cn")]}
        config = daemon_config(tmp_path, database_url, authorities)
        alerting = alerting_for(register, load_config(config, environ={}))
        backlog = 400  # 100 s of mail at 0.25 s each
        with session_scope(register) as session:
            for n in range(backlog):
                alerting.outbox.notice(
                    session, "overview", f"bulk:{n}", "ops", f"bulk-{n:03d}", "x", now_utc()
                )
        daemons.append(Daemon(config, tmp_path))

        def sweeps_done() -> int:
            with session_scope(register) as session:
                return int(
                    session.scalar(select(func.count()).where(col(SweepRun.status) == "completed"))
                    or 0
                )

        # sweeps every 2 s: they go on while the backlog is far from through
        wait_for(lambda: sweeps_done() >= 6, timeout=60, what="six completed sweeps")
        revocations = wait_for(
            lambda: [m for m in smtp.mails if BUREAU in m.rcpt_tos],
            timeout=30,
            what="the revocations, ahead of the backlog",
        )
        assert revocations
        with session_scope(register) as session:
            left = session.scalar(
                select(func.count()).where(
                    col(Alert.kind) == "overview", col(Alert.status) == "pending"
                )
            )
        assert left and left > backlog / 2  # the backlog is still going out
    finally:
        smtp.stop()


def test_a_revocation_wakes_the_dispatch_job_whatever_its_schedule(
    register: Engine, database_url: str, tmp_path: Path, smtp: SmtpServer, daemons: list[Daemon]
) -> None:
    """Dispatch scheduled once a year: the revocations the sweeps write still leave at once."""
    config = daemon_config(
        tmp_path, database_url, {"municipal": [smtp.url(BUREAU)], "ops": [smtp.url("o@x.cn")]}
    )
    text = config.read_text(encoding="utf-8")
    assert 'dispatch = "* * * * * *"' in text
    config.write_text(text.replace('dispatch = "* * * * * *"', 'dispatch = "0 0 1 1 *"'))
    daemons.append(Daemon(config, tmp_path))
    revocations = wait_for(
        lambda: [m for m in smtp.mails if BUREAU in m.rcpt_tos and "撤销" in m.subject],
        timeout=60,
        what="a revocation email",
    )
    assert "疑似撤销情形" in revocations[0].subject
