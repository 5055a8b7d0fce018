"""What became of one attempt to send an alert: sent, retried later, or given up on.

Every attempt gets an `alert_attempt` row. A configuration error (no URL apprise
can use) is not retried, since retrying changes nothing until someone fixes the
file; ops is told once a day per authority.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlmodel import Session

from monitor.alerts.authorities import OPS, Authorities
from monitor.alerts.outbox import Outbox
from monitor.clock import beijing_text
from monitor.config import AlertsSettings
from monitor.storage.models import Alert, AlertAttempt
from monitor.vocabulary import AlertStatus

log = structlog.get_logger("sfm.alerts")


@dataclass
class DispatchReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    config_errors: list[str] = field(default_factory=list)
    out_of_time: bool = False  # the run's budget ran out with alerts still due

    @property
    def all_went_out(self) -> bool:
        return self.retrying == 0 and self.failed == 0 and not self.config_errors

    def as_json(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "retrying": self.retrying,
            "failed": self.failed,
            "config_errors": self.config_errors,
            "out_of_time": self.out_of_time,
        }


def backoff(settings: AlertsSettings, attempts: int) -> timedelta:
    seconds = min(settings.backoff_max_s, settings.backoff_initial_s * 2 ** max(0, attempts - 1))
    return timedelta(seconds=seconds)


def record_attempt(
    session: Session,
    alert: Alert,
    *,
    status: str,
    detail: str,
    delivered: Iterable[int],
    now: datetime,
    settings: AlertsSettings,
    authorities: Authorities,
    report: DispatchReport,
) -> None:
    """Write the attempt and move the alert to sent, pending (with its next try) or failed."""
    alert.attempts += 1
    alert.delivered = sorted(set(alert.delivered) | set(delivered))
    session.add(AlertAttempt(alert_id=alert.id or 0, at=now, status=status, detail=detail))
    fields = {
        "alert_id": alert.id,
        "authority": alert.authority,
        "kind": alert.kind,
        "flag_id": alert.flag_id,
        "attempt": alert.attempts,
    }
    if status == "success":
        alert.status, alert.sent_at, alert.last_error = AlertStatus.SENT.value, now, None
        report.sent += 1
        log.info("alert sent", **fields)
    elif status == "nomatch":
        alert.status, alert.last_error = AlertStatus.FAILED.value, f"configuration: {detail}"
        report.config_errors.append(f"{alert.authority}: {detail}")
        log.error("alert has no working destination", **fields, detail=detail)
        if alert.authority != OPS:
            Outbox(authorities, settings).note(
                session,
                "ops",
                f"ops:nomatch:{alert.authority}:{beijing_text(now)[:10]}",
                OPS,
                {
                    "kind": "nomatch",
                    "authority": authorities.name_of(alert.authority),
                    "alert_id": alert.id,
                    "detail": detail,
                    "path": str(authorities.path),
                },
                now,
            )
    elif alert.attempts >= settings.retry_budget:
        alert.status, alert.last_error = AlertStatus.FAILED.value, detail
        report.failed += 1
        log.error("alert failed after its retry budget", **fields, detail=detail)
    else:
        alert.status, alert.last_error = AlertStatus.PENDING.value, detail
        alert.next_attempt_at = now + backoff(settings, alert.attempts)
        report.retrying += 1
        log.warning(
            "alert not delivered; will retry",
            **fields,
            detail=detail,
            next_attempt_at=alert.next_attempt_at.isoformat(),
        )
    alert.claimed_at = None
    session.add(alert)
