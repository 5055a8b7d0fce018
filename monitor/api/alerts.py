"""/alerts and /notify: the outbox as staff and operators see and drive it."""

from __future__ import annotations

from typing import Any

from monitor.api.routes import Call, Routes

routes = Routes()


@routes.get("/alerts", reader=True)
def list_alerts(call: Call) -> list[dict[str, Any]]:
    """The outbox, newest first: `failed=true` only the alerts that gave up; `limit`
    (default 100, at most a page of 10,000) and `offset` page through it."""
    from monitor.alerts.queries import list_alerts as listed

    return listed(
        call.runtime.engine,
        call.runtime.alerting.authorities,
        failed_only=call.flag("failed"),
        **call.page(),
    )


@routes.post("/alerts/{id}/retry")
def retry_one(call: Call) -> dict[str, Any]:
    """A failed alert given a new retry budget, then everything due sent: the run's report
    (sent, retrying, failed, config_errors, out_of_time). Not a failed alert: 404."""
    from monitor.errors import NotFound
    from monitor.i18n import Message

    alert_id = call.arg_id()
    dispatcher = call.runtime.alerting.dispatcher
    if dispatcher.retry([alert_id]) == 0:
        raise NotFound(Message("alerts.not_failed", id=alert_id))
    return dispatcher.dispatch_due().as_json()


@routes.post("/alerts/retry")
def retry_failed(call: Call) -> dict[str, Any]:
    """Every failed alert given a new retry budget, then everything due sent: the report."""
    dispatcher = call.runtime.alerting.dispatcher
    dispatcher.retry(None)
    return dispatcher.dispatch_due().as_json()


@routes.post("/alerts/dispatch")
def dispatch(call: Call) -> dict[str, Any]:
    """Everything due sent now (as the dispatch job does): the run's report."""
    return call.runtime.alerting.dispatcher.dispatch_due().as_json()


@routes.post("/alerts/digest")
def digest(call: Call) -> dict[str, Any]:
    """The held review/action alerts bundled into one digest per authority, then sent."""
    from monitor.daemon import jobs

    jobs.digest(call.runtime)
    return dispatch(call)


@routes.post("/alerts/remind")
def remind(call: Call) -> dict[str, Any]:
    """Reminders about open flags past their deadline and escalations written, then sent."""
    from monitor.daemon import jobs

    jobs.remind(call.runtime)
    return dispatch(call)


@routes.post("/notify/test")
def notify_test(call: Call) -> dict[str, Any]:
    """A test message to one authority's URLs ({"authority": municipal, ops, or a district's
    code or name}): the authority's name, the alert's status and each URL's outcome."""
    from monitor.alerts.queries import send_test

    return send_test(call.runtime.engine, call.runtime.alerting, str(call.field("authority")))
