"""Working days of Vietnamese state agencies, and appointment dates for results.

Statutory processing times of administrative procedures are mostly counted in working
days (ngày làm việc): Saturdays, Sundays and public holidays do not count. Public
holidays come from the ``holidays`` package, which already knows the Tết Nguyên đán
days off, the Hùng Kings' day, 30/4, 1/5, 2/9 with its adjacent day and the government's
announced day swaps (a Saturday worked in exchange for a bridging day off). Swaps the
package does not know yet are passed in as ``extra_days_off`` / ``extra_working_days``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

__all__ = [
    "DEFAULT_CALENDAR",
    "RECEIPT_CUTOFF",
    "VN_TZ",
    "WorkingCalendar",
    "calendar_days_due_date",
    "due_date",
]

VN_TZ: ZoneInfo = ZoneInfo("Asia/Ho_Chi_Minh")

# The one-stop desk closes at 17:00; a dossier received later (online, or keyed in after
# hours) is treated as received on the next working day.
RECEIPT_CUTOFF: time = time(17, 0)

_SATURDAY = 5
_ONE_DAY = timedelta(days=1)


@lru_cache(maxsize=256)
def _statutory_year(year: int) -> tuple[frozenset[date], frozenset[date]]:
    """Public holidays and swapped-in working weekend days of one year.

    A swap announced for January can make a Saturday of the previous December a working
    day, so the following year is consulted too.
    """
    table = holidays.country_holidays("VN", years=(year, year + 1))
    days_off = frozenset(day for day in table if day.year == year)
    weekend_workdays = frozenset(day for day in table.weekend_workdays if day.year == year)
    return days_off, weekend_workdays


class WorkingCalendar:
    """Which days count towards a statutory processing time.

    Extra days off and extra working days override the statutory calendar, so a
    provincial decision to swap a day can be honoured before the ``holidays`` package
    learns about it.
    """

    def __init__(
        self,
        extra_days_off: Iterable[date] = (),
        extra_working_days: Iterable[date] = (),
    ) -> None:
        self._extra_days_off = frozenset(_as_date(day) for day in extra_days_off)
        self._extra_working_days = frozenset(_as_date(day) for day in extra_working_days)
        clash = self._extra_days_off & self._extra_working_days
        if clash:
            listed = ", ".join(day.isoformat() for day in sorted(clash))
            raise ValueError(f"days declared both off and working: {listed}")
        self._days_off_by_year: dict[int, frozenset[date]] = {}

    def _days_off(self, year: int) -> frozenset[date]:
        days_off = self._days_off_by_year.get(year)
        if days_off is None:
            days_off = self._build_year(year)
            self._days_off_by_year[year] = days_off
        return days_off

    def _build_year(self, year: int) -> frozenset[date]:
        holidays_of_year, weekend_workdays = _statutory_year(year)
        day = date(year, 1, 1)
        off: set[date] = set()
        while day.year == year:
            weekend = day.weekday() >= _SATURDAY and day not in weekend_workdays
            if weekend or day in holidays_of_year:
                off.add(day)
            day += _ONE_DAY
        off |= {d for d in self._extra_days_off if d.year == year}
        off -= self._extra_working_days
        return frozenset(off)

    def is_working_day(self, day: date) -> bool:
        if isinstance(day, datetime):
            # A datetime would silently compare unequal to every holiday; the caller
            # must decide which local date it means (see ``local_date``).
            raise TypeError("is_working_day expects a date, not a datetime")
        return day not in self._days_off(day.year)

    def next_working_day(self, day: date) -> date:
        """The first working day strictly after ``day``."""
        day += _ONE_DAY
        while not self.is_working_day(day):
            day += _ONE_DAY
        return day

    def add_working_days(self, start: date, days: int) -> date:
        """The day on which ``days`` full working days after ``start`` have elapsed.

        Counting starts on the next working day after ``start``: the day of receipt is
        never counted. With ``days == 0`` the result is ``start`` itself if it is a
        working day, else the next working day.
        """
        if days < 0:
            raise ValueError(f"days must not be negative, got {days}")
        if days == 0:
            return start if self.is_working_day(start) else self.next_working_day(start)
        day = start
        for _ in range(days):
            day = self.next_working_day(day)
        return day

    def working_days_between(self, start: date, end: date) -> int:
        """Working days in the half-open interval (start, end]; 0 if end <= start."""
        if end <= start:
            return 0
        count = 0
        day = start + _ONE_DAY
        while day <= end:
            if self.is_working_day(day):
                count += 1
            day += _ONE_DAY
        return count

    def local_date(self, moment: datetime) -> date:
        """The calendar date in Vietnam of an aware instant."""
        return _to_local(moment).date()


def _as_date(day: date) -> date:
    if isinstance(day, datetime):
        raise TypeError(f"expected a date, got the datetime {day.isoformat()}")
    return day


def _to_local(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        # A naive timestamp could be UTC from a server or local from a counter PC; a
        # wrong guess shifts the appointment date by a day.
        raise ValueError("a timezone-aware datetime is required")
    return moment.astimezone(VN_TZ)


DEFAULT_CALENDAR: WorkingCalendar = WorkingCalendar()


def due_date(
    received_at: datetime,
    working_days: int,
    calendar: WorkingCalendar | None = None,
    paused_working_days: int = 0,
) -> date:
    """Appointment date for returning the result (ngày hẹn trả kết quả).

    ``received_at`` is taken in Vietnamese local time. A dossier received after 17:00, or
    on a day that is not a working day, counts as received on the next working day.
    ``paused_working_days`` are the working days the clock stood still, e.g. while the
    applicant was supplementing the dossier; they push the appointment back.
    """
    if working_days < 0:
        raise ValueError(f"working_days must not be negative, got {working_days}")
    if paused_working_days < 0:
        raise ValueError(f"paused_working_days must not be negative, got {paused_working_days}")
    cal = calendar if calendar is not None else DEFAULT_CALENDAR
    local = _to_local(received_at)
    received_day = local.date()
    if local.time() > RECEIPT_CUTOFF or not cal.is_working_day(received_day):
        received_day = cal.next_working_day(received_day)
    return cal.add_working_days(received_day, working_days + paused_working_days)


def calendar_days_due_date(
    received_at: datetime,
    days: int,
    calendar: WorkingCalendar | None = None,
    paused_days: int = 0,
) -> date:
    """Appointment date under a calendar-day clock (the Law on Complaints, the Law on
    Denunciation).

    The clock starts on the day the dossier counts as received, by the same 17:00 and
    day-off rule as `due_date`; ``days`` plus ``paused_days`` calendar days later the
    limit ends. Nobody can hand over a decision on a day the office is closed, so a limit
    ending on a day off runs to the next working day.
    """
    if days < 0:
        raise ValueError(f"days must not be negative, got {days}")
    if paused_days < 0:
        raise ValueError(f"paused_days must not be negative, got {paused_days}")
    cal = calendar if calendar is not None else DEFAULT_CALENDAR
    start = due_date(received_at, 0, cal)
    due = start + timedelta(days=days + paused_days)
    return due if cal.is_working_day(due) else cal.next_working_day(due)
