"""Time as sfm sees it: stored in UTC, shown and scheduled in Beijing time."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

BEIJING = ZoneInfo("Asia/Shanghai")


def now_utc() -> datetime:
    return datetime.now(UTC)


def today_beijing() -> date:
    return beijing_day(now_utc())


def beijing_day(moment: datetime) -> date:
    return moment.astimezone(BEIJING).date()


def beijing_text(moment: datetime) -> str:
    """A stored UTC moment as officials read it, e.g. 2026-11-25 09:51."""
    return moment.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M")
