"""What a dispatch run sends first, and when it stops: revocations before the bulk, even
one written while a backlog is going out; a run's time budget; the next run goes on."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from sqlalchemy import Engine, select
from sqlmodel import Session, col

from connectors.simulator import RunningSimulator
from monitor.alerts.service import Alerting, alerting_for
from monitor.clock import now_utc
from monitor.storage.db import session_scope
from monitor.storage.models import Alert
from tests.integration.alerts.conftest import Webhook, write_alert_config
from tests.integration.alerts.test_delivery import configured, sweep

REVOCATIONS = 5  # the demo register's revocation cases, each told to the bureau


def owe_bulk(alerting: Alerting, engine: Engine, count: int) -> None:
    """`count` weekly overviews to ops: the bulk kind that waits behind revocations."""
    with session_scope(engine) as session:
        for n in range(count):
            alerting.outbox.notice(
                session, "overview", f"bulk:{n}", "ops", f"bulk-{n:03d}", "x", now_utc()
            )


def revocation_indexes(webhook: Webhook) -> list[int]:
    return [n for n, hook in enumerate(webhook.received) if hook["path"] == "/bureau"]


def test_revocations_leave_before_an_older_backlog(
    register: Engine,
    database_url: str,
    tmp_path: Path,
    webhook: Webhook,
    simulator: RunningSimulator,
) -> None:
    path = write_alert_config(
        tmp_path,
        database_url,
        {"municipal": [webhook.url("bureau")], "ops": [webhook.url("ops")]},
    )
    config = configured(path, simulator)
    alerting = alerting_for(register, config)
    owe_bulk(alerting, register, 30)  # written first: the lower ids
    sweep(register, config, alerting)
    report = alerting.dispatcher.dispatch_due()
    assert report.sent >= 30 + REVOCATIONS
    assert revocation_indexes(webhook) == list(range(REVOCATIONS))


def test_a_revocation_written_while_a_backlog_goes_out_is_the_next_one_sent(
    register: Engine,
    database_url: str,
    tmp_path: Path,
    webhook: Webhook,
    simulator: RunningSimulator,
) -> None:
    path = write_alert_config(
        tmp_path,
        database_url,
        {"municipal": [webhook.url("bureau")], "ops": [webhook.url("ops")]},
    )
    config = configured(path, simulator)
    alerting = alerting_for(register, config)
    owe_bulk(alerting, register, 60)
    webhook.delay_s = 0.1
    running = threading.Thread(target=alerting.dispatcher.dispatch_due)
    running.start()
    while len(webhook.received) < 3:
        time.sleep(0.01)
    sweep(register, config, alerting)  # the revocation flags and their alerts are committed
    committed_at = len(webhook.received)
    running.join(timeout=120)
    assert not running.is_alive()
    told = revocation_indexes(webhook)
    assert len(told) == REVOCATIONS and len(webhook.received) >= 60 + REVOCATIONS
    # at most the one send in flight when they were committed goes before them
    assert told == list(range(told[0], told[0] + REVOCATIONS))
    assert committed_at <= told[0] <= committed_at + 1, (committed_at, told)


def test_a_run_stops_taking_alerts_when_its_budget_is_spent_and_the_next_goes_on(
    engine: Engine, database_url: str, tmp_path: Path, webhook: Webhook
) -> None:
    from monitor.config import load_config

    path = write_alert_config(
        tmp_path,
        database_url,
        {"ops": [webhook.url("ops")]},
        extra="dispatch_budget_s = 0.5\n",
    )
    alerting = alerting_for(engine, load_config(path, environ={}))
    owe_bulk(alerting, engine, 12)
    webhook.delay_s = 0.2
    first = alerting.dispatcher.dispatch_due()
    assert first.out_of_time and 1 <= first.sent < 12
    runs = 1
    while len(webhook.received) < 12 and runs < 30:
        alerting.dispatcher.dispatch_due()
        runs += 1
    titles = [hook["title"] for hook in webhook.received]
    assert len(titles) == len(set(titles)) == 12  # each once
    assert {title.rsplit("bulk-", 1)[1] for title in titles} == {f"{n:03d}" for n in range(12)}
    assert runs > 1  # it took more than one run, each within its budget
    with Session(engine) as session:
        statuses = set(session.scalars(select(col(Alert.status))))
    assert statuses == {"sent"}
    assert not alerting.dispatcher.dispatch_due().out_of_time  # nothing left: done in time
