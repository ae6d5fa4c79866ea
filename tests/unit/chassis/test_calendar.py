"""Working days and appointment dates.

The holiday dates asserted here were checked against the ``holidays`` package and the
government's announcements: Tết Bính Ngọ 2026 falls on Tuesday 17 February 2026 and state
employees are off Monday 16 to Friday 20 February; in 2026 Hùng Kings' day (26/4) falls
on a Sunday and is taken on Monday 27/4; National Day 2026 is Tuesday 1 and Wednesday
2 September, with Monday 31 August off in exchange for working Saturday 22 August.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from unittest.mock import patch

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chassis.calendar import (
    DEFAULT_CALENDAR,
    VN_TZ,
    WorkingCalendar,
    due_date,
)


def vn(year: int, month: int, day: int, hour: int = 9, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=VN_TZ)


@pytest.fixture(scope="module")
def cal() -> WorkingCalendar:
    return WorkingCalendar()


class TestWorkingDays:
    def test_weekend_is_off_and_weekdays_work(self, cal: WorkingCalendar) -> None:
        assert cal.is_working_day(date(2025, 3, 7))  # Friday
        assert not cal.is_working_day(date(2025, 3, 8))  # Saturday
        assert not cal.is_working_day(date(2025, 3, 9))  # Sunday
        assert cal.is_working_day(date(2025, 3, 10))  # Monday

    def test_tet_2026_days_off(self, cal: WorkingCalendar) -> None:
        assert cal.is_working_day(date(2026, 2, 13))  # last working day before Tết
        for day in range(16, 21):
            assert not cal.is_working_day(date(2026, 2, day)), day
        assert cal.is_working_day(date(2026, 2, 23))  # first working day after Tết

    def test_tet_2025_days_off(self, cal: WorkingCalendar) -> None:
        assert cal.is_working_day(date(2025, 1, 24))
        for day in range(27, 32):
            assert not cal.is_working_day(date(2025, 1, day)), day
        assert cal.is_working_day(date(2025, 2, 3))

    def test_reunification_and_labour_day_2026(self, cal: WorkingCalendar) -> None:
        assert not cal.is_working_day(date(2026, 4, 27))  # Hùng Kings' day, moved off Sunday
        assert cal.is_working_day(date(2026, 4, 28))
        assert cal.is_working_day(date(2026, 4, 29))
        assert not cal.is_working_day(date(2026, 4, 30))
        assert not cal.is_working_day(date(2026, 5, 1))
        assert cal.is_working_day(date(2026, 5, 4))

    def test_national_day_and_swapped_saturday_2026(self, cal: WorkingCalendar) -> None:
        assert cal.is_working_day(date(2026, 8, 22))  # Saturday worked in exchange
        assert not cal.is_working_day(date(2026, 8, 31))
        assert not cal.is_working_day(date(2026, 9, 1))
        assert not cal.is_working_day(date(2026, 9, 2))
        assert cal.is_working_day(date(2026, 9, 3))

    def test_national_day_2025_takes_the_adjacent_monday(self, cal: WorkingCalendar) -> None:
        assert not cal.is_working_day(date(2025, 9, 1))
        assert not cal.is_working_day(date(2025, 9, 2))

    def test_new_year(self, cal: WorkingCalendar) -> None:
        assert not cal.is_working_day(date(2026, 1, 1))
        assert cal.is_working_day(date(2026, 1, 2))

    def test_extra_days_off_and_working_days(self) -> None:
        swapped = WorkingCalendar(
            extra_days_off=[date(2025, 3, 11)],
            extra_working_days=[date(2025, 3, 15), date(2026, 2, 16)],
        )
        assert not swapped.is_working_day(date(2025, 3, 11))
        assert swapped.is_working_day(date(2025, 3, 15))  # a Saturday
        assert swapped.is_working_day(date(2026, 2, 16))  # overrides a Tết day
        assert swapped.add_working_days(date(2025, 3, 10), 1) == date(2025, 3, 12)

    def test_same_day_cannot_be_both_off_and_working(self) -> None:
        with pytest.raises(ValueError, match="2025-03-11"):
            WorkingCalendar(
                extra_days_off=[date(2025, 3, 11)], extra_working_days=[date(2025, 3, 11)]
            )

    def test_datetime_is_refused(self, cal: WorkingCalendar) -> None:
        with pytest.raises(TypeError):
            cal.is_working_day(vn(2025, 3, 10))


class TestAddWorkingDays:
    def test_counting_starts_the_next_working_day(self, cal: WorkingCalendar) -> None:
        assert cal.add_working_days(date(2025, 3, 10), 1) == date(2025, 3, 11)
        assert cal.add_working_days(date(2025, 3, 7), 1) == date(2025, 3, 10)  # Fri -> Mon
        assert cal.add_working_days(date(2025, 3, 8), 1) == date(2025, 3, 10)  # Sat -> Mon

    def test_zero_days(self, cal: WorkingCalendar) -> None:
        assert cal.add_working_days(date(2025, 3, 10), 0) == date(2025, 3, 10)
        assert cal.add_working_days(date(2025, 3, 8), 0) == date(2025, 3, 10)
        assert cal.add_working_days(date(2026, 2, 14), 0) == date(2026, 2, 23)

    def test_spanning_tet_2026(self, cal: WorkingCalendar) -> None:
        # Thu 12/2 -> Fri 13/2 (1), Mon 23/2 (2) ... Thu 26/2 (5).
        assert cal.add_working_days(date(2026, 2, 12), 5) == date(2026, 2, 26)
        assert cal.working_days_between(date(2026, 2, 12), date(2026, 2, 26)) == 5

    def test_large_count(self, cal: WorkingCalendar) -> None:
        start = date(2024, 1, 2)
        end = cal.add_working_days(start, 2500)
        assert cal.working_days_between(start, end) == 2500
        assert cal.is_working_day(end)
        # About 245 working days a year.
        assert date(2033, 12, 1) < end < date(2034, 12, 31)

    def test_negative_days_refused(self, cal: WorkingCalendar) -> None:
        with pytest.raises(ValueError, match="negative"):
            cal.add_working_days(date(2025, 3, 10), -1)

    def test_working_days_between_empty_interval(self, cal: WorkingCalendar) -> None:
        assert cal.working_days_between(date(2025, 3, 10), date(2025, 3, 10)) == 0
        assert cal.working_days_between(date(2025, 3, 11), date(2025, 3, 10)) == 0
        assert cal.working_days_between(date(2025, 3, 7), date(2025, 3, 9)) == 0


dates = st.dates(min_value=date(2015, 1, 1), max_value=date(2035, 12, 31))


class TestInverse:
    @settings(max_examples=300, deadline=None)
    @given(start=dates, days=st.integers(min_value=0, max_value=400))
    def test_between_undoes_add(self, start: date, days: int) -> None:
        end = DEFAULT_CALENDAR.add_working_days(start, days)
        assert DEFAULT_CALENDAR.is_working_day(end)
        # Zero days lands on start itself, or on the next working day after a day off.
        expected = days or (0 if DEFAULT_CALENDAR.is_working_day(start) else 1)
        assert DEFAULT_CALENDAR.working_days_between(start, end) == expected
        # From a day off, 0 and 1 working days both land on the next working day.
        assert DEFAULT_CALENDAR.add_working_days(start, days + 1) > end or expected != days

    @settings(max_examples=300, deadline=None)
    @given(start=dates, span=st.integers(min_value=1, max_value=400))
    def test_add_undoes_between_on_working_days(self, start: date, span: int) -> None:
        end = start + timedelta(days=span)
        counted = DEFAULT_CALENDAR.working_days_between(start, end)
        if counted == 0:
            return
        reached = DEFAULT_CALENDAR.add_working_days(start, counted)
        assert reached <= end
        # Landing short of ``end`` only skips days off.
        assert DEFAULT_CALENDAR.working_days_between(reached, end) == 0
        if DEFAULT_CALENDAR.is_working_day(end):
            assert reached == end


class TestDueDate:
    def test_morning_receipt(self) -> None:
        assert due_date(vn(2025, 3, 10, 10), 1) == date(2025, 3, 11)

    def test_after_five_pm_counts_from_next_working_day(self) -> None:
        assert due_date(vn(2025, 3, 10, 17, 30), 1) == date(2025, 3, 12)
        assert due_date(vn(2025, 3, 10, 16, 59), 1) == date(2025, 3, 11)
        assert due_date(vn(2025, 3, 10, 17, 0), 1) == date(2025, 3, 11)

    def test_friday_evening(self) -> None:
        assert due_date(vn(2025, 3, 7, 18), 1) == date(2025, 3, 11)

    def test_sunday_receipt(self) -> None:
        assert due_date(vn(2025, 3, 9, 10), 1) == date(2025, 3, 11)
        assert due_date(vn(2025, 3, 9, 10), 0) == date(2025, 3, 10)

    def test_zero_days_on_a_working_day(self) -> None:
        assert due_date(vn(2025, 3, 10, 10), 0) == date(2025, 3, 10)
        assert due_date(vn(2025, 3, 10, 20), 0) == date(2025, 3, 11)

    def test_utc_instants_are_read_in_vietnamese_time(self) -> None:
        # 10:30 UTC is 17:30 in Hà Nội: after hours.
        assert due_date(datetime(2025, 3, 10, 10, 30, tzinfo=UTC), 1) == date(2025, 3, 12)
        # 18:00 UTC on Monday is 01:00 on Tuesday in Hà Nội.
        assert due_date(datetime(2025, 3, 10, 18, 0, tzinfo=UTC), 1) == date(2025, 3, 12)
        assert DEFAULT_CALENDAR.local_date(datetime(2025, 3, 10, 18, tzinfo=UTC)) == date(
            2025, 3, 11
        )

    def test_spanning_tet_2026(self) -> None:
        # Received Wed 11/2; 15 working days: 12, 13 Feb, then 23 Feb onwards.
        assert due_date(vn(2026, 2, 11), 15) == date(2026, 3, 11)
        # Received during Tết: counted from Mon 23/2.
        assert due_date(vn(2026, 2, 17), 10) == date(2026, 3, 9)

    def test_spanning_30_4_and_1_5_2026(self) -> None:
        # Fri 24/4 -> Tue 28/4 (1), Wed 29/4 (2), Mon 4/5 (3).
        assert due_date(vn(2026, 4, 24), 3) == date(2026, 5, 4)

    def test_spanning_2_9_2026(self) -> None:
        # Fri 28/8 -> Thu 3/9 (1), Fri 4/9 (2).
        assert due_date(vn(2026, 8, 28), 2) == date(2026, 9, 4)
        # Received on the swapped working Saturday counts that very day.
        assert due_date(vn(2026, 8, 22), 1) == date(2026, 8, 24)

    def test_paused_days_push_the_appointment_back(self) -> None:
        assert due_date(vn(2025, 3, 10), 5, paused_working_days=3) == due_date(vn(2025, 3, 10), 8)

    def test_custom_calendar(self) -> None:
        swapped = WorkingCalendar(extra_days_off=[date(2025, 3, 11)])
        assert due_date(vn(2025, 3, 10), 1, calendar=swapped) == date(2025, 3, 12)

    def test_naive_datetime_refused(self) -> None:
        with pytest.raises(ValueError, match="timezone-aware"):
            due_date(datetime(2025, 3, 10, 10), 1)

    def test_negative_counts_refused(self) -> None:
        with pytest.raises(ValueError, match="working_days"):
            due_date(vn(2025, 3, 10), -1)
        with pytest.raises(ValueError, match="paused_working_days"):
            due_date(vn(2025, 3, 10), 1, paused_working_days=-1)


def test_holidays_are_looked_up_once_per_year() -> None:
    """Speed is measured in bench/; here only that lookups are cached per year."""
    cal = WorkingCalendar()
    days = [date(2020, 1, 1) + timedelta(days=i) for i in range(3650)]
    working = sum(1 for day in days if cal.is_working_day(day))
    assert 0.6 < working / len(days) < 0.75
    with patch("holidays.country_holidays", side_effect=AssertionError("not cached")):
        assert sum(1 for day in days if cal.is_working_day(day)) == working
