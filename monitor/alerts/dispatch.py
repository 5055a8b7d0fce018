"""The dispatcher: each due alert goes through claim → context → render → deliver → record.

Each stage is its own module: `claims` (due alerts, and taking one so no other
dispatcher sends it), `context` (what the template is given), `render`,
`send` (apprise, URL by URL) and `record` (the attempt, backoff, the budget).
A new concern is a new stage, not a new branch here.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta

import structlog
from sqlalchemy import Engine, update
from sqlmodel import Session, col

from monitor.alerts import claims
from monitor.alerts.authorities import Authorities
from monitor.alerts.context import build_context, template_of
from monitor.alerts.record import DispatchReport, record_attempt
from monitor.alerts.render import Rendered, Renderer
from monitor.alerts.send import Delivery, Timeouts, deliver
from monitor.clock import now_utc
from monitor.config import AlertsSettings
from monitor.i18n import using_language
from monitor.rules.policy import PolicyChoice
from monitor.storage.db import check_guard, session_scope
from monitor.storage.models import Alert
from monitor.vocabulary import AlertStatus

log = structlog.get_logger("sfm.alerts")


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

    def dispatch_due(
        self, now: datetime | None = None, stop: threading.Event | None = None
    ) -> DispatchReport:
        """Send what is due, most urgent first, until nothing is, the run's time budget
        (`dispatch_budget_s`) is spent or `stop` is set; the next run goes on from there.

        The next alert is chosen afresh before each send, so a revocation written while a
        backlog is going out is the very next one sent."""
        started = now or now_utc()
        report = DispatchReport()
        budget_ends = time.monotonic() + self.settings.dispatch_budget_s
        claims.release_expired(self.engine, self._lease, now_utc())
        while time.monotonic() < budget_ends:
            if stop is not None and stop.is_set():
                return report
            alert_id = claims.next_due(self.engine, max(started, now_utc()), started)
            if alert_id is None:
                return report
            self.send_one(alert_id, report, started)
        report.out_of_time = True
        log.info("dispatch budget spent; the next run goes on", sent=report.sent)
        return report

    @property
    def _lease(self) -> timedelta:
        return timedelta(seconds=self.settings.sending_lease_s)

    def send_one(self, alert_id: int, report: DispatchReport, now: datetime) -> Delivery | None:
        """Send one alert; what each URL said, or None if it was not sent (claimed elsewhere,
        or it could not be rendered)."""
        if not claims.claim(self.engine, alert_id):
            return None
        rendered = self._rendered(alert_id, report, now)
        if rendered is None:
            return None
        rendered_alert, authority_key, delivered, attachment = rendered
        authority = self.authorities.get(authority_key)
        check_guard(self.engine)  # a daemon that lost the lead since the claim sends nothing
        with claims.held(self.engine, alert_id, self._lease):
            delivery = deliver(
                authority.urls if authority else (),
                delivered,
                rendered_alert,
                attachment,
                timeouts=Timeouts(self.settings.smtp_timeout_s, self.settings.http_timeout_s),
            )
        if authority is None:
            detail = f"no authority {authority_key!r} in {self.authorities.path}"
        else:
            detail = delivery.detail or "no URL configured"
        # on the run's clock (never before it): a retry is due only after this run
        at = max(now, now_utc())
        self._record(alert_id, delivery.status, detail, delivery.delivered, report, at)
        return delivery

    def render(self, session: Session, alert: Alert, now: datetime) -> Rendered:
        """The alert's words, in the configured language (also for previews)."""
        with using_language(self.settings.language):
            context = build_context(
                session,
                alert,
                self.authorities,
                self.measures,
                now,
                deadline_days=self.settings.reminder_after_days,
            )
            return self.renderer.render(template_of(alert), context)

    def _rendered(
        self, alert_id: int, report: DispatchReport, now: datetime
    ) -> tuple[Rendered, str, set[int], str | None] | None:
        """The alert's words, rendered once and kept on the row so a retry sends the same."""
        with session_scope(self.engine) as session:
            alert = session.get(Alert, alert_id)
            assert alert is not None
            if alert.body_markdown is None:
                try:
                    words = self.render(session, alert, now)
                except Exception as exc:  # a template error is a failed attempt, not a crash
                    log.exception("alert could not be rendered", alert_id=alert_id)
                    self._record(alert_id, "failure", f"render: {exc}", set(), report, now)
                    return None
                alert.subject, alert.body_markdown = words.subject, words.full
                alert.body_text = words.compact
            words = Rendered(alert.subject or "", alert.body_markdown or "", alert.body_text or "")
            return words, alert.authority, set(alert.delivered), alert.attachment

    def _record(
        self,
        alert_id: int,
        status: str,
        detail: str,
        delivered: set[int],
        report: DispatchReport,
        now: datetime,
    ) -> None:
        # the ops note a configuration error writes is in the alerts' language
        with using_language(self.settings.language), session_scope(self.engine) as session:
            alert = session.get(Alert, alert_id)
            assert alert is not None
            record_attempt(
                session,
                alert,
                status=status,
                detail=detail,
                delivered=delivered,
                now=now,
                settings=self.settings,
                authorities=self.authorities,
                report=report,
            )

    def retry(self, alert_ids: list[int] | None, now: datetime | None = None) -> int:
        """Give failed alerts (these, or all) a fresh retry budget, due now."""
        now = now or now_utc()
        with session_scope(self.engine) as session:
            query = update(Alert).where(col(Alert.status) == AlertStatus.FAILED.value)
            if alert_ids is not None:
                query = query.where(col(Alert.id).in_(alert_ids))
            changed = session.execute(
                query.values(status=AlertStatus.PENDING.value, attempts=0, next_attempt_at=now)
            )
            return int(changed.rowcount)  # type: ignore[attr-defined]
