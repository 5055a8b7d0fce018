"""Alerts delivered to real peers: SMTP (aiosmtpd) and a webhook, through apprise."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlmodel import Session, col

from connectors.simulator import RunningSimulator
from monitor.alerts.service import Alerting, alerting_for
from monitor.clock import now_utc
from monitor.config import LoadedConfig, load_config
from monitor.storage.db import session_scope
from monitor.storage.models import Alert, AlertAttempt
from monitor.sweep.run import run_sweep
from tests.conftest import Cli, shipped_connector, shipped_connectors
from tests.integration.alerts.conftest import SmtpServer, Webhook, write_alert_config

SHIPPED = ("registry-qcc", "credit-qcc", "safety-tyc")
BUREAU = "zngc@jxj.beijing.gov.cn"
HAIDIAN = "hdjxj@bjhd.gov.cn"


def configured(path: Path, simulator: RunningSimulator | None = None) -> LoadedConfig:
    loaded = load_config(path, environ={})
    if simulator is None:
        return loaded
    connectors = [shipped_connector(name, simulator.base_url) for name in SHIPPED]
    settings = loaded.settings.model_copy(update={"connectors": connectors})
    return LoadedConfig(settings=settings, path=loaded.path, masked=loaded.masked)


def sweep(engine: Engine, config: LoadedConfig, alerting: Alerting) -> None:
    asyncio.run(run_sweep(engine, config, outbox=alerting.outbox))


def alerts(engine: Engine) -> list[Alert]:
    with Session(engine) as session:
        return list(session.scalars(select(Alert).order_by(col(Alert.id))))


def swept(
    engine: Engine,
    database_url: str,
    tmp_path: Path,
    simulator: RunningSimulator,
    authorities: dict[str, list[str]],
    extra: str = "",
) -> tuple[Path, Alerting]:
    """Alert config for these authorities, and one sweep over the simulator with it."""
    path = write_alert_config(tmp_path, database_url, authorities, extra=extra)
    config = configured(path, simulator)
    alerting = alerting_for(engine, config)
    sweep(engine, config, alerting)
    return path, alerting


def test_revocation_alerts_reach_email_and_webhook(
    register: Engine,
    database_url: str,
    tmp_path: Path,
    smtp: SmtpServer,
    webhook: Webhook,
    simulator: RunningSimulator,
) -> None:
    path = write_alert_config(
        tmp_path,
        database_url,
        {
            "municipal": [smtp.url(BUREAU)],
            "110108": [smtp.url(HAIDIAN)],
            "110105": [webhook.url("chaoyang")],
        },
    )
    config = configured(path, simulator)
    alerting = alerting_for(register, config)
    sweep(register, config, alerting)
    report = alerting.dispatcher.dispatch_due()
    assert report.failed == 0 and report.sent >= 5

    haidian = [m for m in smtp.mails if m.rcpt_tos == [HAIDIAN]]
    [deregistered] = haidian  # 华芯微电子: basic level, Haidian, terminated
    assert "北京华芯微电子装备有限公司" in deregistered.subject
    assert "911101081235534499" in deregistered.part("text/plain")
    assert "<table>" in deregistered.part("text/html") or "<td>" in deregistered.part("text/html")
    assert "sfm flags confirm" in deregistered.part("text/plain")
    bureau_subjects = sorted(m.subject for m in smtp.mails if m.rcpt_tos == [BUREAU])
    assert len(bureau_subjects) == 5  # every revocation reaches the bureau
    assert any("南苑航空" in s for s in bureau_subjects)

    chaoyang = [hook for hook in webhook.received if hook["path"] == "/chaoyang"]
    assert sorted("朝晖食品" in h["title"] or "东方明光" in h["title"] for h in chaoyang) == [
        True,
        True,
    ]
    assert all(len(h["message"]) <= 3800 for h in chaoyang)
    # review and action flags wait for the digest
    held = [a for a in alerts(register) if a.status == "held"]
    assert held and all(a.kind == "flag" for a in held)


def test_smtp_down_then_back_delivers_each_alert_exactly_once(
    register: Engine,
    database_url: str,
    tmp_path: Path,
    smtp: SmtpServer,
    simulator: RunningSimulator,
) -> None:
    _, alerting = swept(
        register,
        database_url,
        tmp_path,
        simulator,
        {"municipal": [smtp.url(BUREAU)]},
        extra="retry_budget = 5\nbackoff_initial_s = 60\n",
    )
    smtp.stop()
    first = alerting.dispatcher.dispatch_due()
    assert first.sent == 0 and first.retrying > 0
    pending = [a for a in alerts(register) if a.status == "pending"]
    assert pending and all(a.attempts == 1 and a.next_attempt_at for a in pending)
    assert all(
        "Connection" in (a.last_error or "") or "FAILURE" in (a.last_error or "") for a in pending
    )
    assert alerting.dispatcher.dispatch_due().sent == 0  # backing off: nothing due yet
    smtp.start()
    later = now_utc() + timedelta(minutes=2)
    back = alerting.dispatcher.dispatch_due(now=later)
    assert back.sent == first.retrying and back.retrying == 0
    assert alerting.dispatcher.dispatch_due(now=later + timedelta(hours=1)).sent == 0
    subjects = [m.subject for m in smtp.mails]
    assert len(subjects) == len(set(subjects)) == first.retrying  # once each
    with Session(register) as session:
        attempts = session.scalar(select(func.count()).select_from(AlertAttempt))
    assert attempts == 2 * first.retrying


def test_retry_budget_then_failed_then_retry_failed_delivers(
    register: Engine,
    database_url: str,
    tmp_path: Path,
    smtp: SmtpServer,
    simulator: RunningSimulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path, alerting = swept(
        register,
        database_url,
        tmp_path,
        simulator,
        {"municipal": [smtp.url(BUREAU)]},
        extra="retry_budget = 2\nbackoff_initial_s = 0\n",
    )
    smtp.stop()
    alerting.dispatcher.dispatch_due()
    spent = alerting.dispatcher.dispatch_due(now=now_utc() + timedelta(seconds=1))
    assert spent.failed == 5 and spent.sent == 0
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SFM_OPERATOR", "li")
    cli = Cli(capsys, path)
    listed = cli("alerts", "list", "--failed", "--json")
    assert listed.code == 0 and len(__import__("json").loads(listed.out)) == 5
    assert cli("alerts", "dispatch").code == 0  # failed alerts are not retried by themselves
    smtp.start()
    retried = cli("alerts", "retry", "--failed")
    assert retried.code == 0, retried.err
    assert len(smtp.mails) == 5
    assert cli("alerts", "list", "--failed", "--json").out.strip() == "[]"
    assert cli("alerts", "retry", "999999").code == 4
    assert cli("alerts", "retry").code == 2


def test_unusable_destination_is_a_configuration_error_told_to_ops(
    register: Engine,
    database_url: str,
    tmp_path: Path,
    webhook: Webhook,
    simulator: RunningSimulator,
) -> None:
    path = write_alert_config(
        tmp_path, database_url, {"municipal": [], "ops": [webhook.url("ops")]}
    )
    config = configured(path, simulator)
    alerting = alerting_for(register, config)
    sweep(register, config, alerting)
    report = alerting.dispatcher.dispatch_due()
    assert report.config_errors and not report.all_went_out
    failed = [
        a
        for a in alerts(register)
        if a.authority == "municipal" and a.kind == "flag" and a.status != "held"
    ]
    assert failed and all(
        a.status == "failed" and "configuration" in (a.last_error or "") for a in failed
    )
    alerting.dispatcher.dispatch_due()
    municipal = alerting.authorities.name_of("municipal")
    assert any(f"通知地址无法使用：{municipal}" in hook["title"] for hook in webhook.received), (
        webhook.received
    )
    from monitor.daemon.status import status

    shown = status(register, config)
    assert shown["alert_configuration_errors"] and shown["outbox"]["failed"] >= 1


def test_notify_test_reports_each_url(
    engine: Engine,
    database_url: str,
    tmp_path: Path,
    smtp: SmtpServer,
    webhook: Webhook,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = write_alert_config(
        tmp_path,
        database_url,
        {
            "110108": [smtp.url(HAIDIAN), webhook.url("haidian"), "json://127.0.0.1:1/closed"],
        },
    )
    monkeypatch.chdir(tmp_path)
    cli = Cli(capsys, path)
    result = cli("notify", "test", "海淀", "--json")
    assert result.code == 1
    outcome = __import__("json").loads(result.out)
    assert [u["status"] for u in outcome["urls"]] == ["success", "success", "failure"]
    assert len(smtp.mails) == 1 and "测试" in smtp.mails[0].subject
    assert cli("notify", "test", "Gotham").code == 4


def test_sfm_check_emails_the_revocation_before_it_exits(
    register: Engine,
    database_url: str,
    tmp_path: Path,
    smtp: SmtpServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    connectors = shipped_connectors()
    path = write_alert_config(
        tmp_path, database_url, {"municipal": [smtp.url(BUREAU)]}, extra=connectors
    )
    monkeypatch.chdir(tmp_path)
    cli = Cli(capsys, path)
    result = cli("check", "--json")
    assert result.code == 0, result.err
    # `sfm check` has returned: the emails are already at the SMTP server
    assert len(smtp.mails) == 5
    assert __import__("json").loads(result.out)["alerts"]["sent"] == 5


def test_a_dispatcher_killed_midway_loses_nothing(
    engine: Engine,
    database_url: str,
    tmp_path: Path,
    webhook: Webhook,
) -> None:
    """SIGKILL during `sfm alerts dispatch`; the next run sends the rest. At most the one
    alert in flight when the process died arrives twice (the documented window)."""
    path = write_alert_config(
        tmp_path, database_url, {"ops": [webhook.url("ops")]}, extra="sending_lease_s = 1\n"
    )
    alerting = alerting_for(engine, load_config(path, environ={}))
    with session_scope(engine) as session:
        for n in range(60):
            alerting.outbox.tell_ops(session, f"bulk:{n}", f"bulk-{n:03d}", "x", now_utc())
    webhook.delay_s = 0.05
    sfm = [sys.executable, "-m", "monitor.cli", "--config", str(path), "alerts", "dispatch"]
    env = {**os.environ, "SFM_LANG": "en"}
    process = subprocess.Popen(
        sfm, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 60
    while len(webhook.received) < 15 and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    assert 0 < len(webhook.received) < 60
    time.sleep(1.2)  # the dead dispatcher's claim expires
    webhook.delay_s = 0
    again = subprocess.run(
        sfm, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False
    )
    assert again.returncode == 0, again.stderr
    titles = [hook["title"] for hook in webhook.received]
    assert set(titles) == {f"运维提示：bulk-{n:03d}" for n in range(60)}
    assert len(titles) - len(set(titles)) <= 1
    assert all(a.status == "sent" for a in alerts(engine))


def test_two_dispatchers_at_once_send_each_alert_once_however_slow_the_sends(
    engine: Engine,
    database_url: str,
    tmp_path: Path,
    webhook: Webhook,
) -> None:
    """Claims are stamped when taken and renewed while sending: with a 1 s lease and
    0.3 s sends, a second dispatcher never takes an alert the first is still sending."""
    import threading

    path = write_alert_config(
        tmp_path, database_url, {"ops": [webhook.url("ops")]}, extra="sending_lease_s = 1\n"
    )
    config = load_config(path, environ={})
    with session_scope(engine) as session:
        outbox = alerting_for(engine, config).outbox
        for n in range(10):
            outbox.tell_ops(session, f"slow:{n}", f"slow-{n:03d}", "x", now_utc())
    webhook.delay_s = 0.3
    dispatchers = [alerting_for(engine, config).dispatcher for _ in range(2)]
    threads = [threading.Thread(target=each.dispatch_due) for each in dispatchers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    titles = [hook["title"] for hook in webhook.received]
    assert sorted(titles) == sorted({f"运维提示：slow-{n:03d}" for n in range(10)})
    assert all(a.status == "sent" for a in alerts(engine))


def test_sfm_check_exits_5_with_one_line_when_it_learned_or_handed_over_nothing(
    register: Engine,
    database_url: str,
    tmp_path: Path,
    smtp: SmtpServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A source failing for every factory, or revocations the mail server would not take,
    is not a success: exit 5, and one line saying which. Nothing is flagged from errors."""
    connectors = (
        shipped_connectors()
        .replace("retries = 3\n", "")
        .replace('\ntopic = "', '\nretries = 0\ntopic = "')
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SFM_LANG", "zh")

    smtp.stop()  # the revocations cannot be handed over
    path = write_alert_config(
        tmp_path, database_url, {"municipal": [smtp.url(BUREAU)]}, extra=connectors
    )
    result = Cli(capsys, path)("check")
    assert result.code == 5, result.err
    [line] = [each for each in result.err.splitlines() if each.startswith("sfm:")]  # + the log
    assert "5 条告警未能送出" in line
    assert all(
        a.status == "pending" for a in alerts(engine=register) if a.kind == "flag" and a.attempts
    )

    down = connectors.replace("[simulator]\n", "[simulator]\nerror_rate = 1.0\n", 1)
    path = write_alert_config(tmp_path, database_url, {}, extra=down)
    before = len(alerts(register))
    result = Cli(capsys, path)("check", "--json")
    assert result.code == 5
    [line] = [each for each in result.err.splitlines() if each.startswith("sfm:")]
    for name in ("registry-qcc", "credit-qcc", "safety-tyc"):
        assert f"数据源 {name} 对所有企业均查询失败" in line
    assert __import__("json").loads(result.out)["problems"]  # --json still prints the summary
    assert len(alerts(register)) == before  # an error is not a fact about a factory


def test_webhook_tokens_never_show_in_attempts_listings_status_or_the_debug_log(
    engine: Engine,
    database_url: str,
    tmp_path: Path,
    webhook: Webhook,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    token = "9f8e7d6c5b4a39281706f5e4d3c2b1a0"
    monkeypatch.setenv("OPS_HOOK", "a1b2c3d4e5f6a7b8c9d0")
    path = write_alert_config(
        tmp_path,
        database_url,
        {"ops": [webhook.url(f"ops/{token}"), webhook.url("ops2/${OPS_HOOK}")]},
    )
    text = path.read_text(encoding="utf-8").replace(
        f'file = "{tmp_path / "sfm.log"}"',
        f'file = "{tmp_path / "sfm.log"}"\nfile_level = "debug"\nlevel = "debug"',
    )
    path.write_text(text, encoding="utf-8")
    alerting = alerting_for(engine, load_config(path))
    with session_scope(engine) as session:
        alerting.outbox.tell_ops(session, "secret:1", "密钥检查", "x", now_utc())
    monkeypatch.chdir(tmp_path)
    cli = Cli(capsys, path)
    sent = cli("alerts", "dispatch")
    assert sent.code == 0, sent.err
    assert len(webhook.received) == 2  # both really went out
    with Session(engine) as session:
        details = [a.detail for a in session.scalars(select(AlertAttempt))]
    listed = cli("alerts", "list", "--json").out
    status = cli("status", "--json").out
    shown = cli("config", "check", "--json").out
    log = (tmp_path / "sfm.log").read_text(encoding="utf-8")
    assert "apprise" in log.lower()  # apprise's own debug lines are in it ...
    for where, text in {
        "attempts": "\n".join(details),
        "alerts list": listed,
        "status": status,
        "config check": shown,
        "log": log,
        "stderr": sent.err,
    }.items():
        assert token not in text, where  # ... and none carries a token
        assert "a1b2c3d4e5f6a7b8c9d0" not in text, where
    assert "9...0" in "\n".join(details)  # apprise's privacy form, cut to its ends


def test_a_mail_server_that_never_answers_is_given_up_on_after_the_configured_smtp_timeout(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    """A server that takes the connection and never greets: the send gives up after
    `smtp_timeout_s` (0.5 s here; apprise's own default would wait 15 s), a failure retried
    later, and the dispatch run goes on."""
    import socket
    import threading

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        url = f"mailto://127.0.0.1:{port}?user=sfm&from=sfm@jxj.beijing.gov.cn&to={BUREAU}"
        path = write_alert_config(
            tmp_path,
            database_url,
            {"ops": [url + "&mode=insecure"]},
            extra="smtp_timeout_s = 0.5\n",
        )
        alerting = alerting_for(engine, load_config(path, environ={}))
        with session_scope(engine) as session:
            alerting.outbox.tell_ops(session, "silent:1", "无应答", "x", now_utc())
        reports = []
        run = threading.Thread(target=lambda: reports.append(alerting.dispatcher.dispatch_due()))
        run.start()
        run.join(timeout=10)
        assert not run.is_alive(), "the send did not give up"
    [report] = reports
    assert report.retrying == 1 and report.sent == 0
    [alert] = alerts(engine)
    assert alert.status == "pending" and alert.attempts == 1


def test_sfm_check_is_not_failed_by_an_alert_it_did_not_raise(
    register: Engine,
    database_url: str,
    tmp_path: Path,
    smtp: SmtpServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A notice owed to a district with no destination, written before: `sfm check` sends it too
    (and it fails, listed), but the check's outcome is its own sweep's and its own alerts'."""
    path = write_alert_config(
        tmp_path,
        database_url,
        {
            "municipal": [smtp.url(BUREAU)],
            "ops": [smtp.url("ops@x.cn")],
            "110108": [smtp.url(HAIDIAN)],
        },
        extra=shipped_connectors(),
    )
    alerting = alerting_for(register, load_config(path, environ={}))
    with session_scope(register) as session:  # to Dongcheng, which is not configured here
        alerting.outbox.notice(session, "filing", "filing:x", "110101", "备案", "x", now_utc())
    monkeypatch.chdir(tmp_path)
    result = Cli(capsys, path)("check", "--factory", "911101081235534499", "--json")
    assert result.code == 0, result.err
    shown = __import__("json").loads(result.out)
    assert shown["problems"] == []
    assert shown["alerts"]["config_errors"]  # the old one was tried, and failed
    assert [m for m in smtp.mails if BUREAU in m.rcpt_tos]  # its own went out
    [filing] = [a for a in alerts(register) if a.kind == "filing"]
    assert filing.status == "failed"
