"""Hand a rendered alert to apprise, one URL at a time, and say what became of each.

Sending URL by URL lets a retry after a partial failure skip the recipients
that already have the alert. apprise's own result (status per service and its
log lines) is recorded; nothing is scraped from the process log.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import apprise
import structlog
from apprise.decorators import notify
from apprise.manager_plugins import NotificationManager

from monitor.alerts import receivers
from monitor.alerts.authorities import shown_url
from monitor.alerts.render import Rendered
from monitor.config import mask_secrets

EMAIL_SCHEMES = {"mailto", "mailtos"}

receivers.register(NotificationManager())


@notify(on="outbox", name="sfm local outbox")
def _write_to_outbox(
    body: str, title: str, notify_type: str, meta: dict[str, Any], *args: Any, **kwargs: Any
) -> bool:
    """`outbox://NAME`: the demo's local sink, one Markdown file per message.

    Files go to $SFM_OUTBOX_DIR/NAME (default var/outbox/NAME), written whole
    under a temporary name first so a reader never sees half a message.
    """
    folder = Path(os.environ.get("SFM_OUTBOX_DIR", "var/outbox")) / str(meta.get("host") or "_")
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    target = folder / f"{stamp}-{os.getpid()}-{time.monotonic_ns()}.md"
    partial = target.with_suffix(".partial")
    partial.write_text(f"# {title}\n\n{body}\n", encoding="utf-8")
    partial.replace(target)
    structlog.get_logger("sfm.alerts").info("alert written to the local outbox", path=str(target))
    return True


@dataclass(frozen=True)
class Timeouts:
    """How long one URL may take, per connection and per read: SMTP, and HTTP (IM, webhooks)."""

    smtp_s: float
    http_s: float


@dataclass
class UrlOutcome:
    index: int
    status: str  # success | failure | timeout | partial | nomatch
    detail: str


@dataclass
class Delivery:
    outcomes: list[UrlOutcome] = field(default_factory=list)

    @property
    def delivered(self) -> set[int]:
        return {o.index for o in self.outcomes if o.status == "success"}

    @property
    def status(self) -> str:
        """success, nomatch (a configuration error), or failure."""
        if not self.outcomes:
            return "nomatch"
        if all(o.status == "success" for o in self.outcomes):
            return "success"
        if any(o.status == "nomatch" for o in self.outcomes):
            return "nomatch"
        return "failure"

    @property
    def detail(self) -> str:
        return "\n".join(f"[{o.index}] {o.status}: {o.detail}" for o in self.outcomes)


def _log_lines(result: Any) -> str:
    lines = []
    for entry in result.logs():
        text = str(entry)
        if "WARNING" in text or "ERROR" in text:
            lines.append(mask_secrets(text))
    return " | ".join(lines[-5:])


def deliver(
    urls: Iterable[str],
    skip: set[int],
    rendered: Rendered,
    attachment: str | None = None,
    *,
    timeouts: Timeouts | None = None,
) -> Delivery:
    """Send to every URL not in `skip`: email gets the full text (and the attachment, if
    any), IM the compact one. Each URL waits at most `timeouts` for each connection and
    each read."""
    delivery = Delivery()
    for index, url in enumerate(urls):
        if index in skip:
            continue
        service = apprise.Apprise()
        if not service.add(url):
            delivery.outcomes.append(UrlOutcome(index, "nomatch", "apprise cannot parse this URL"))
            continue
        email = url.split(":", 1)[0].lower() in EMAIL_SCHEMES
        if timeouts is not None:
            for plugin in service:
                limit = timeouts.smtp_s if email else timeouts.http_s
                plugin.socket_connect_timeout = plugin.socket_read_timeout = limit
        result = service.notify(
            body=rendered.full if email else rendered.compact,
            title=rendered.subject,
            body_format=apprise.NotifyFormat.MARKDOWN,
            attach=attachment if email and attachment and Path(attachment).is_file() else None,
        )
        status = result.status.name.lower()
        services = "; ".join(f"{s.name} {shown_url(s.url)}: {s.status.name}" for s in result)
        detail = mask_secrets(services) + (
            f" — {_log_lines(result)}" if status != "success" else ""
        )
        delivery.outcomes.append(UrlOutcome(index, status, detail))
    return delivery
