"""/exports: not yet served (ported in its own commit)."""

from __future__ import annotations

from monitor.api.routes import Routes

routes = Routes()
