"""The dossier's clock: appointment dates, pauses, lateness and time limits.

Administrative procedures count working days (Decree 61/2018, Decree 107/2021); the
Law on Complaints and the Law on Denunciations count calendar days. Which clock a
dossier runs on comes from its procedure's `WorkflowPolicy`. The calendar of working
days - weekends, public holidays, Tết - belongs to `chassis.calendar`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from chassis.calendar import DEFAULT_CALENDAR, WorkingCalendar
from chassis.calendar import due_date as working_due_date
from processing.domain.workflow import WorkflowPolicy

__all__ = [
    "Pause",
    "compute_due_date",
    "counting_starts_on",
    "due_after",
    "is_overdue",
    "resolved_on_time",
    "time_limit",
    "working_days_taken",
]


@dataclass(frozen=True)
class Pause:
    """A stretch during which the clock stood still: the applicant owed documents.

    It starts the day the supplement was requested and ends the day the supplement
    arrived; `ended` is None while the applicant has not answered yet.
    """

    started: date
    ended: date | None = None

    def __post_init__(self) -> None:
        if self.ended is not None and self.ended < self.started:
            raise ValueError(f"pause ends ({self.ended}) before it starts ({self.started})")

    def end_or(self, today: date | None) -> date:
        if self.ended is not None:
            return self.ended
        if today is None:
            raise ValueError("an open pause needs today's date to be measured")
        return today


def _calendar(calendar: WorkingCalendar | None) -> WorkingCalendar:
    return DEFAULT_CALENDAR if calendar is None else calendar


def counting_starts_on(received_at: datetime, calendar: WorkingCalendar | None = None) -> date:
    """The day a dossier counts as received, on which its clock starts.

    After the 17:00 cut-off or on a day off that is the next working day. A zero-day
    limit under the working-day clock falls due on exactly that day, which keeps both
    clocks on the one receipt rule of `chassis.calendar`.
    """
    return working_due_date(received_at, 0, _calendar(calendar))


def _spans(
    pauses: Sequence[Pause], today: date | None, clip: date | None
) -> list[tuple[date, date]]:
    spans: list[tuple[date, date]] = []
    for pause in pauses:
        end = pause.end_or(today)
        if clip is not None:
            end = min(end, clip)
        if end > pause.started:
            spans.append((pause.started, end))
    return spans


def _paused_working_days(
    pauses: Sequence[Pause],
    calendar: WorkingCalendar,
    today: date | None,
    clip: date | None = None,
) -> int:
    # A pause covers the working days after the request up to and including the day
    # the supplement arrives: the officer has already spent the request day on the
    # dossier, and the arrival day is lost to the applicant.
    return sum(
        calendar.working_days_between(start, end) for start, end in _spans(pauses, today, clip)
    )


def _paused_calendar_days(pauses: Sequence[Pause], today: date | None) -> int:
    return sum((end - start).days for start, end in _spans(pauses, today, None))


def compute_due_date(
    received_at: datetime,
    policy: WorkflowPolicy,
    pauses: Sequence[Pause],
    extended: bool = False,
    calendar: WorkingCalendar | None = None,
    today: date | None = None,
    days: int | None = None,
) -> date:
    """The appointment date for the result (ngày hẹn trả).

    Pauses push the date back by the time they lasted, counted on the dossier's own
    clock; an open pause counts up to `today`, so the date keeps moving while the
    applicant has not answered. ``days`` overrides the policy's time limit (a limit
    chosen at acceptance, extensions added).
    """
    limit = _time_limit(policy, extended) if days is None else days
    return due_after(received_at, limit, policy.clock, pauses, calendar, today)


def due_after(
    start_at: datetime,
    days: int,
    clock: str,
    pauses: Sequence[Pause] = (),
    calendar: WorkingCalendar | None = None,
    today: date | None = None,
) -> date:
    """The day ``days`` after ``start_at`` on ``clock``, pauses added."""
    cal = _calendar(calendar)
    if clock == "working_days":
        paused = _paused_working_days(pauses, cal, today)
        return working_due_date(start_at, days, cal, paused_working_days=paused)

    start = counting_starts_on(start_at, cal)
    due = start + timedelta(days=days + _paused_calendar_days(pauses, today))
    # The law counts calendar days, but nobody can hand over a decision on a day the
    # office is closed, so a limit ending on one runs to the next working day.
    if not cal.is_working_day(due):
        due = cal.next_working_day(due)
    return due


def time_limit(
    policy: WorkflowPolicy, complex_case: bool = False, remote_area: bool = False
) -> int:
    """The time limit chosen when a complaint is accepted (Law on Complaints 2011,
    Art. 28 and 37): 30 days, 45 for a complex case; in a remote area with difficult
    travel 45, and 60 for a complex case there (the catalogue holds the figures)."""
    if remote_area:
        days = (
            policy.remote_area_extended_processing_days
            if complex_case
            else policy.remote_area_processing_days
        )
        if days is None:
            raise ValueError(f"a {policy.kind} under this procedure has no remote-area time limit")
        return days
    return _time_limit(policy, complex_case)


def _time_limit(policy: WorkflowPolicy, extended: bool) -> int:
    if not extended:
        return policy.processing_days
    if policy.extended_processing_days is None:
        raise ValueError(f"a {policy.kind} under this procedure has no extended time limit")
    return policy.extended_processing_days


def is_overdue(due: date, today: date, resolved_on: date | None) -> bool:
    """Late if resolved after the due date, or still unresolved once it has passed."""
    if resolved_on is not None:
        return resolved_on > due
    return today > due


def resolved_on_time(due: date, resolved_on: date) -> bool:
    return resolved_on <= due


def working_days_taken(
    received_at: datetime,
    resolved_at: datetime,
    pauses: Sequence[Pause],
    calendar: WorkingCalendar | None,
) -> int:
    """Working days the department spent on a dossier, without the applicant's pauses.

    Used for the public statistics on how long each procedure really takes; a dossier
    settled on the day it counts as received took zero days.
    """
    cal = _calendar(calendar)
    start = counting_starts_on(received_at, cal)
    end = cal.local_date(resolved_at)
    if end <= start:
        return 0
    elapsed = cal.working_days_between(start, end)
    return max(0, elapsed - _paused_working_days(pauses, cal, end, clip=end))
