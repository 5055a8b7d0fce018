"""/status: the measures in force, the jobs, recent sweeps, sources, flags and the outbox."""

from __future__ import annotations

from typing import Any

from monitor.api.routes import Call, Routes

routes = Routes()


@routes.get("/status", reader=True)
def status(call: Call) -> dict[str, Any]:
    from monitor.daemon.status import status as collect

    return collect(call.runtime.engine, call.runtime.config)
