"""/flags: the flags the rules raised, and staff's decisions on them."""

from __future__ import annotations

from typing import Any

from monitor.api.routes import Call, Routes
from monitor.i18n import language

routes = Routes()

# A page is bounded; the CLI pages through more when asked for all (--limit 0).
MAX_PAGE = 10_000


@routes.get("/flags")
def list_flags(call: Call) -> list[dict[str, Any]]:
    """Flags, newest first, filtered by state, rule, district, level and severity (in the
    words tables print, or the recorded ones); `limit` and `offset` page through them."""
    from monitor.flags.listing import list_flags as listed

    rows = listed(
        call.runtime.engine,
        state=call.text("state"),
        rule=call.text("rule"),
        district=call.text("district"),
        level=call.text("level"),
        severity=call.text("severity"),
        limit=min(call.number("limit", 100, least=1), MAX_PAGE),
        offset=call.number("offset", 0),
    )
    return [row.as_json() for row in rows]


@routes.get("/flags/{id}")
def show_flag(call: Call) -> dict[str, Any]:
    """One flag: evidence (with the lines a reader sees), history and audit trail."""
    from monitor.alerts.context import evidence_lines
    from monitor.clauses import reference
    from monitor.clock import today_beijing
    from monitor.reports import change_text, flag_detail
    from monitor.rules.policy import measures_in_force

    measures = measures_in_force(call.runtime.config.settings.policy, today_beijing())
    detail = flag_detail(call.runtime.engine, call.arg_id(), measures)
    judge = measures.judge_of(detail["evidence"].get("measures_key"))
    detail["clause_reference"] = reference(detail["clause"], language(), judge.clauses())
    detail["evidence_lines"] = [
        [label, str(value)] for label, value in evidence_lines(detail["evidence"])
    ]
    for entry in detail["audit"]:
        entry["change_text"] = change_text(entry["from"], entry["to"])
    return detail
