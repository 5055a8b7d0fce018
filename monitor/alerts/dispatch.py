"""The dispatcher: send what is due, record every attempt, back off, give up after a budget.

At-least-once: an alert is claimed (`sending`, claimed_at) and committed
before it is handed to apprise, and marked `sent` right after. If the process
dies in between, the claim expires after `sending_lease_s` and the alert is
sent again: that window (one hand-over, milliseconds for IM, the SMTP
conversation for email) is the only way a recipient gets an alert twice.
A process that dies before the claim commits, or after `sent` commits, loses
and duplicates nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import Engine, select, update
from sqlmodel import Session, col

from monitor.alerts.authorities import OPS, Authorities
from monitor.alerts.outbox import Outbox
from monitor.alerts.render import Rendered, Renderer
from monitor.alerts.send import Delivery, deliver
from monitor.clock import beijing_text, now_utc
from monitor.codes import DISTRICTS_BY_CODE
from monitor.config import AlertsSettings
from monitor.db import session_scope
from monitor.i18n import t, using_language
from monitor.models import Alert, AlertAttempt, Factory, Flag
from monitor.reports import summary_text
from monitor.rules.policy import PolicyChoice
from monitor.vocabulary import AlertStatus

log = structlog.get_logger("sfm.alerts")

# Messages whose subject and text are written with the row, and the template they go in.
NOTICE_KINDS = {"ops": "ops", "filing": "notice", "expiry": "notice", "overview": "notice"}


@dataclass
class DispatchReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    config_errors: list[str] = field(default_factory=list)

    @property
    def all_went_out(self) -> bool:
        return self.retrying == 0 and self.failed == 0 and not self.config_errors

    def as_json(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "retrying": self.retrying,
            "failed": self.failed,
            "config_errors": self.config_errors,
        }


def _evidence_lines(evidence: dict[str, Any]) -> list[tuple[str, Any]]:
    hidden = {"observation_id", "sources"}
    return [(k, v) for k, v in evidence.items() if k not in hidden and v not in (None, "", [])]


class Dispatcher:
    def __init__(
        self,
        engine: Engine,
        authorities: Authorities,
        settings: AlertsSettings,
        renderer: Renderer,
        measures: PolicyChoice,
    ) -> None:
        self.engine = engine
        self.authorities = authorities
        self.settings = settings
        self.renderer = renderer
        self.measures = measures

    # ------------------------------------------------------------ words

    def _measures(self) -> dict[str, Any]:
        policy = self.measures.policy
        return {
            "title": policy.title,
            "expired": self.measures.expired,
            "expires_on": str(policy.expires_on or "—"),
        }

    def _flag_context(self, flag: Flag, factory: Factory) -> dict[str, Any]:
        district = DISTRICTS_BY_CODE.get(factory.district_code)
        return {
            "flag": {
                "id": flag.id,
                "rule_id": flag.rule_id,
                "clause": flag.clause,
                "clause_text": t(f"clause.{flag.clause}"),
                "severity_text": t(f"severity.{flag.severity}"),
                "state_text": t(f"state.{flag.state}"),
                "summary": summary_text(flag.summary_key, flag.summary_params),
                "evidence": _evidence_lines(flag.evidence),
                "first_seen": beijing_text(flag.first_seen_at),
                "action_text": t(f"action.{flag.severity}"),
            },
            "factory": {
                "name": factory.name,
                "credit_code": factory.credit_code,
                "level_text": t(f"level.{factory.level}"),
                "district_name": district.name if district else factory.district_code,
            },
        }

    def render(self, session: Session, alert: Alert, now: datetime) -> Rendered:
        with using_language(self.settings.language):
            return self._render(session, alert, now)

    def _render(self, session: Session, alert: Alert, now: datetime) -> Rendered:
        authority = self.authorities.get(alert.authority)
        context: dict[str, Any] = {
            "measures": self._measures(),
            "now": beijing_text(now),
            "authority": authority.name if authority else alert.authority,
        }
        if alert.flag_id is not None:
            flag = session.get(Flag, alert.flag_id)
            assert flag is not None
            factory = session.get(Factory, flag.factory_id)
            assert factory is not None
            context.update(self._flag_context(flag, factory))
            context["days_open"] = (now - flag.first_seen_at).days
            told = session.scalars(
                select(col(Alert.authority)).where(
                    col(Alert.flag_id) == flag.id, col(Alert.kind) == "flag"
                )
            ).all()
            context["recipients"] = "、".join(
                self.authorities.get(key).name if self.authorities.get(key) else key  # type: ignore[union-attr]
                for key in sorted(set(told))
            )
            context["reason"] = context["flag"]["state_text"]
        if alert.kind == "digest":
            items = session.scalars(
                select(Alert).where(col(Alert.digest_id) == alert.id).order_by(col(Alert.id))
            ).all()
            context["today"] = beijing_text(now)[:10]
            context["items"] = []
            for item in items:
                flag = session.get(Flag, item.flag_id)
                if flag is None:
                    continue
                factory = session.get(Factory, flag.factory_id)
                assert factory is not None
                context["items"].append(self._flag_context(flag, factory))
        if alert.kind in NOTICE_KINDS:
            context["title"] = alert.subject or ""
            context["message"] = alert.body_text or ""
            return self.renderer.render(NOTICE_KINDS[alert.kind], context)
        return self.renderer.render(alert.kind, context)

    # ------------------------------------------------------------ delivery

    def _reclaim(self, now: datetime) -> None:
        """Claims older than the lease belong to a dispatcher that died: send again."""
        lease = now - timedelta(seconds=self.settings.sending_lease_s)
        with session_scope(self.engine) as session:
            session.execute(
                update(Alert)
                .where(
                    col(Alert.status) == AlertStatus.SENDING.value, col(Alert.claimed_at) < lease
                )
                .values(status=AlertStatus.PENDING.value)
            )

    def _claim(self, alert_id: int, now: datetime) -> bool:
        with session_scope(self.engine) as session:
            claimed = session.execute(
                update(Alert)
                .where(col(Alert.id) == alert_id, col(Alert.status) == AlertStatus.PENDING.value)
                .values(status=AlertStatus.SENDING.value, claimed_at=now)
            )
            return bool(claimed.rowcount)  # type: ignore[attr-defined]

    def _backoff(self, attempts: int) -> timedelta:
        seconds = min(
            self.settings.backoff_max_s, self.settings.backoff_initial_s * 2 ** max(0, attempts - 1)
        )
        return timedelta(seconds=seconds)

    def send_one(self, alert_id: int, report: DispatchReport, now: datetime) -> Delivery | None:
        """Send one alert; what each URL said, or None if it was not sent (claimed elsewhere,
        or it could not be rendered)."""
        if not self._claim(alert_id, now):
            return None  # another dispatcher has it
        with session_scope(self.engine) as session:
            alert = session.get(Alert, alert_id)
            assert alert is not None
            try:
                if alert.body_markdown is None:
                    rendered = self.render(session, alert, now)
                    alert.subject, alert.body_markdown = rendered.subject, rendered.full
                    alert.body_text = rendered.compact
                rendered = Rendered(
                    alert.subject or "", alert.body_markdown or "", alert.body_text or ""
                )
            except Exception as exc:  # a template error is a failed attempt, not a crash
                log.exception("alert could not be rendered", alert_id=alert_id)
                self._finish(session, alert, "failure", f"render: {exc}", set(), report, now)
                return None
        authority = self.authorities.get(alert.authority)
        urls = authority.urls if authority else ()
        delivery = deliver(urls, set(alert.delivered), rendered, alert.attachment)
        with session_scope(self.engine) as session:
            alert = session.get(Alert, alert_id)
            assert alert is not None
            if authority is None:
                detail = f"no authority {alert.authority!r} in {self.authorities.path}"
            else:
                detail = delivery.detail or "no URL configured"
            self._finish(
                session, alert, delivery.status, detail, delivery.delivered, report, now_utc()
            )
        return delivery

    def _finish(
        self,
        session: Session,
        alert: Alert,
        status: str,
        detail: str,
        delivered: Iterable[int],
        report: DispatchReport,
        now: datetime,
    ) -> None:
        alert.attempts += 1
        alert.delivered = sorted(set(alert.delivered) | set(delivered))
        session.add(AlertAttempt(alert_id=alert.id or 0, at=now, status=status, detail=detail))
        log_fields = {
            "alert_id": alert.id,
            "authority": alert.authority,
            "kind": alert.kind,
            "flag_id": alert.flag_id,
            "attempt": alert.attempts,
        }
        if status == "success":
            alert.status, alert.sent_at, alert.last_error = AlertStatus.SENT.value, now, None
            report.sent += 1
            log.info("alert sent", **log_fields)
        elif status == "nomatch":
            # Not a passing fault: retrying changes nothing until someone fixes the config.
            alert.status, alert.last_error = AlertStatus.FAILED.value, f"configuration: {detail}"
            report.config_errors.append(f"{alert.authority}: {detail}")
            log.error("alert has no working destination", **log_fields, detail=detail)
            if alert.authority != OPS:
                Outbox(self.authorities, self.settings).tell_ops(
                    session,
                    f"nomatch:{alert.authority}:{beijing_text(now)[:10]}",
                    f"{alert.authority} 的通知地址无法使用",
                    f"告警 {alert.id} 无法发送：{detail}\n请检查 authorities.toml。",
                    now,
                )
        elif alert.attempts >= self.settings.retry_budget:
            alert.status, alert.last_error = AlertStatus.FAILED.value, detail
            report.failed += 1
            log.error("alert failed after its retry budget", **log_fields, detail=detail)
        else:
            alert.status, alert.last_error = AlertStatus.PENDING.value, detail
            alert.next_attempt_at = now + self._backoff(alert.attempts)
            report.retrying += 1
            log.warning(
                "alert not delivered; will retry",
                **log_fields,
                detail=detail,
                next_attempt_at=alert.next_attempt_at.isoformat(),
            )
        alert.claimed_at = None
        session.add(alert)

    def dispatch_due(self, now: datetime | None = None, limit: int = 1000) -> DispatchReport:
        """Send everything due now (once each), then return what happened."""
        now = now or now_utc()
        report = DispatchReport()
        self._reclaim(now)
        with session_scope(self.engine) as session:
            due = list(
                session.scalars(
                    select(col(Alert.id))
                    .where(
                        col(Alert.status) == AlertStatus.PENDING.value,
                        col(Alert.next_attempt_at) <= now,
                    )
                    .order_by(col(Alert.id))
                    .limit(limit)
                )
            )
        for alert_id in due:
            if alert_id is not None:
                self.send_one(alert_id, report, now)
        return report

    def retry(self, alert_ids: list[int] | None, now: datetime | None = None) -> int:
        """Give failed alerts (these, or all) a fresh retry budget, due now."""
        now = now or now_utc()
        with session_scope(self.engine) as session:
            query = update(Alert).where(col(Alert.status) == AlertStatus.FAILED.value)
            if alert_ids is not None:
                query = query.where(col(Alert.id).in_(alert_ids))
            changed = session.execute(
                query.values(
                    status=AlertStatus.PENDING.value,
                    attempts=0,
                    next_attempt_at=now,
                )
            )
            return int(changed.rowcount)  # type: ignore[attr-defined]
