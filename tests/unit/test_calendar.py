"""The regulatory calendar as dates: Article 6 filing reminders, Article 14 expiry warnings."""

from __future__ import annotations

from datetime import date

import pytest

from monitor.calendar import Quarter, expiry_warning_due, filing_reminder_due, iso_week


def test_quarters_know_their_days_and_their_filing_deadline() -> None:
    q4 = Quarter.parse("2026Q4")
    assert (q4.first_day, q4.last_day, q4.filing_deadline) == (
        date(2026, 10, 1),
        date(2026, 12, 31),
        date(2026, 12, 15),
    )
    q1 = Quarter.of(date(2027, 2, 28))
    assert str(q1) == "2027Q1" and q1.last_day == date(2027, 3, 31)
    assert Quarter.parse(" 2026 q2 ").filing_deadline == date(2026, 6, 15)
    for bad in ("2026Q5", "Q4", "2026-4", ""):
        with pytest.raises(ValueError, match="quarter"):
            Quarter.parse(bad)


def test_a_filing_reminder_is_owed_from_each_threshold_until_the_15th() -> None:
    days = [10, 3]
    assert filing_reminder_due(date(2026, 12, 4), days) is None  # 11 days before
    first = filing_reminder_due(date(2026, 12, 5), days)
    assert first is not None and (first.threshold, first.days_left) == (10, 10)
    assert str(first.quarter) == "2026Q4" and first.deadline == date(2026, 12, 15)
    late = filing_reminder_due(date(2026, 12, 13), days)
    assert late is not None and late.threshold == 3  # only the nearest, never a burst
    assert filing_reminder_due(date(2026, 12, 15), days) is not None  # the day itself
    assert filing_reminder_due(date(2026, 12, 16), days) is None  # after: next quarter's
    assert filing_reminder_due(date(2026, 11, 25), days) is None
    march = filing_reminder_due(date(2027, 3, 12), days)
    assert march is not None and str(march.quarter) == "2027Q1"


def test_the_expiry_warning_follows_the_nearest_threshold_reached() -> None:
    expires = date(2026, 12, 31)
    days = [60, 30, 7]
    assert expiry_warning_due(date(2026, 10, 31), expires, days) is None  # 61 days
    on_our_clock = expiry_warning_due(date(2026, 11, 25), expires, days)
    assert on_our_clock is not None
    assert (on_our_clock.days_left, on_our_clock.threshold) == (36, 60)
    assert expiry_warning_due(date(2026, 12, 1), expires, days).threshold == 30  # type: ignore[union-attr]
    assert expiry_warning_due(date(2026, 12, 24), expires, days).threshold == 7  # type: ignore[union-attr]
    assert expiry_warning_due(date(2027, 1, 1), expires, days) is None
    assert expiry_warning_due(date(2026, 12, 1), None, days) is None


def test_iso_weeks_name_the_week_a_weekly_note_belongs_to() -> None:
    assert iso_week(date(2026, 11, 25)) == "2026W48"
    assert iso_week(date(2027, 1, 1)) == "2026W53"


def test_each_report_lists_the_filings_since_the_previous_report_was_due() -> None:
    from datetime import date

    from monitor.calendar import Quarter

    q1 = Quarter.parse("2027Q1")
    assert q1.filing_window == (date(2026, 12, 15), date(2027, 3, 14))
    assert Quarter.parse("2026Q4").filing_window == (date(2026, 9, 15), date(2026, 12, 14))
    assert Quarter.reporting(date(2026, 12, 20)) == q1
    assert Quarter.reporting(date(2026, 12, 15)) == q1  # the day the report is due
    assert Quarter.reporting(date(2026, 12, 14)) == Quarter(2026, 4)
    assert Quarter.reporting(date(2027, 3, 1)) == q1
    # every day belongs to exactly one report
    day = date(2026, 1, 1)
    while day < date(2028, 1, 1):
        first, last = Quarter.reporting(day).filing_window
        assert first <= day <= last
        day = date.fromordinal(day.toordinal() + 1)
