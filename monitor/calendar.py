"""The regulatory calendar: Article 6 filing deadlines and Article 14 expiry, as pure dates.

> 第六条 …各区主管部门将备案结果于每季度第三个月15日前报送市经济和信息化局。
> 第十四条 本办法自发布之日起执行,有效期至2026年12月31日,…

A reminder or warning is owed once a configured number of days before its date
is reached; when several are owed at once (the daemon was down), only the
nearest is sent, so a late start never sends a burst of stale notices.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

FILING_DAY = 15
_QUARTER = re.compile(r"^\s*(\d{4})\s*[Qq]\s*([1-4])\s*$")


@dataclass(frozen=True)
class Quarter:
    year: int
    number: int  # 1-4

    @classmethod
    def of(cls, day: date) -> Quarter:
        return cls(day.year, (day.month - 1) // 3 + 1)

    @classmethod
    def parse(cls, text: str) -> Quarter:
        """`2026Q4`, `2026q4` or `2026 Q4`."""
        match = _QUARTER.match(text)
        if match is None:
            raise ValueError(f"{text!r} is not a quarter such as 2026Q4")
        return cls(int(match[1]), int(match[2]))

    @property
    def first_day(self) -> date:
        return date(self.year, 3 * self.number - 2, 1)

    @property
    def last_day(self) -> date:
        if self.number == 4:
            return date(self.year, 12, 31)
        return date(self.year, 3 * self.number + 1, 1) - timedelta(days=1)

    @property
    def filing_deadline(self) -> date:
        """The 15th of the quarter's third month: districts report before it (Article 6)."""
        return date(self.year, 3 * self.number, FILING_DAY)

    @property
    def previous(self) -> Quarter:
        if self.number == 1:
            return Quarter(self.year - 1, 4)
        return Quarter(self.year, self.number - 1)

    @property
    def next(self) -> Quarter:
        if self.number == 4:
            return Quarter(self.year + 1, 1)
        return Quarter(self.year, self.number + 1)

    @property
    def filing_window(self) -> tuple[date, date]:
        """The first and last day of the filings this quarter's report lists: those made since
        the previous report's due date, up to this one's (a filing of 12-20 is reported in
        the next quarter, due on 03-15)."""
        return self.previous.filing_deadline, self.filing_deadline - timedelta(days=1)

    @classmethod
    def reporting(cls, filed_on: date) -> Quarter:
        """The quarter whose report lists a filing made on `filed_on`."""
        quarter = cls.of(filed_on)
        return quarter if filed_on < quarter.filing_deadline else quarter.next

    def __str__(self) -> str:
        return f"{self.year}Q{self.number}"


def _owed(days_left: int, days_before: Iterable[int]) -> int | None:
    """The nearest configured threshold already reached, if the date itself has not passed."""
    if days_left < 0:
        return None
    reached = [days for days in days_before if days_left <= days]
    return min(reached) if reached else None


@dataclass(frozen=True)
class FilingReminder:
    quarter: Quarter
    deadline: date
    days_left: int
    threshold: int  # which of the configured reminders this is


def filing_reminder_due(today: date, days_before: Iterable[int]) -> FilingReminder | None:
    """The Article 6 reminder owed today for this quarter's filing, if any."""
    quarter = Quarter.of(today)
    days_left = (quarter.filing_deadline - today).days
    threshold = _owed(days_left, days_before)
    if threshold is None:
        return None
    return FilingReminder(quarter, quarter.filing_deadline, days_left, threshold)


@dataclass(frozen=True)
class ExpiryWarning:
    expires_on: date
    days_left: int
    threshold: int


def expiry_warning_due(
    today: date, expires_on: date | None, days_before: Iterable[int]
) -> ExpiryWarning | None:
    """The Article 14 warning owed today for measures that expire on `expires_on`, if any."""
    if expires_on is None:
        return None
    days_left = (expires_on - today).days
    threshold = _owed(days_left, days_before)
    if threshold is None:
        return None
    return ExpiryWarning(expires_on, days_left, threshold)


def iso_week(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}W{week:02d}"
