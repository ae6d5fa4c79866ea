"""Appointment dates and lateness, with dates worked out by hand on the 2026 calendar.

Days off used below (the `holidays` package as read by `chassis.calendar`):
Tết Bính Ngọ from Saturday 14 to Sunday 22 February 2026 (16-20 February are the
statutory days, the rest a weekend either side); Hùng Kings' day on Sunday 26 April,
observed Monday 27 April; 30 April and 1 May; National Day Monday 31 August (swapped
for Saturday 22 August), 1 and 2 September.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest

from chassis.calendar import DEFAULT_CALENDAR, VN_TZ, WorkingCalendar
from processing.domain.deadlines import (
    Pause,
    compute_due_date,
    counting_starts_on,
    due_after,
    is_overdue,
    resolved_on_time,
    time_limit,
    working_days_taken,
)
from processing.domain.workflow import WorkflowPolicy

CAL = DEFAULT_CALENDAR


def at(day: date, hour: int = 9, minute: int = 0, second: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute, second), tzinfo=VN_TZ)


def procedure(days: int = 10) -> WorkflowPolicy:
    return WorkflowPolicy(
        extra_approval=False,
        clock="working_days",
        processing_days=days,
        extended_processing_days=None,
        kind="procedure",
    )


def complaint(days: int = 30, extended: int | None = 45) -> WorkflowPolicy:
    return WorkflowPolicy(
        extra_approval=True,
        clock="calendar_days",
        processing_days=days,
        extended_processing_days=extended,
        kind="complaint",
    )


def test_the_calendar_knows_tet_2026() -> None:
    off = [date(2026, 2, d) for d in range(14, 23)]
    assert [CAL.is_working_day(d) for d in off] == [False] * 9
    assert CAL.is_working_day(date(2026, 2, 13))
    assert CAL.is_working_day(date(2026, 2, 23))


# --- when the clock starts -----------------------------------------------------------


@pytest.mark.parametrize(
    ("received_at", "starts_on"),
    [
        pytest.param(at(date(2026, 3, 2), 9), date(2026, 3, 2), id="monday-morning"),
        pytest.param(at(date(2026, 3, 2), 17, 0), date(2026, 3, 2), id="at-the-cut-off"),
        pytest.param(at(date(2026, 3, 2), 17, 0, 1), date(2026, 3, 3), id="just-after-cut-off"),
        pytest.param(at(date(2026, 3, 2), 22, 45), date(2026, 3, 3), id="late-evening"),
        pytest.param(at(date(2026, 3, 6), 18), date(2026, 3, 9), id="friday-evening"),
        pytest.param(at(date(2026, 3, 7), 10), date(2026, 3, 9), id="saturday"),
        pytest.param(at(date(2026, 2, 13), 18), date(2026, 2, 23), id="eve-of-tet-holiday"),
        pytest.param(at(date(2026, 2, 17), 10), date(2026, 2, 23), id="first-day-of-tet"),
        # 10:30 UTC is 17:30 in Vietnam: the office had already closed.
        pytest.param(
            datetime(2026, 3, 2, 10, 30, tzinfo=UTC), date(2026, 3, 3), id="utc-after-hours"
        ),
        # 23:00 UTC on Sunday is 06:00 on Monday in Vietnam.
        pytest.param(
            datetime(2026, 3, 1, 23, 0, tzinfo=UTC), date(2026, 3, 2), id="utc-monday-dawn"
        ),
    ],
)
def test_counting_starts_on(received_at: datetime, starts_on: date) -> None:
    assert counting_starts_on(received_at) == starts_on


def test_naive_receipt_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone"):
        compute_due_date(datetime(2026, 3, 2, 9), procedure(), [])


# --- working-day clock ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("received_at", "days", "due"),
    [
        # Tue 3, Wed 4, Thu 5, Fri 6, Mon 9.
        pytest.param(at(date(2026, 3, 2)), 5, date(2026, 3, 9), id="over-a-weekend"),
        pytest.param(at(date(2026, 3, 5)), 3, date(2026, 3, 10), id="thursday-plus-three"),
        # Counting from Tuesday 3 March: Wed 4 ... Tue 10.
        pytest.param(at(date(2026, 3, 2), 17, 30), 5, date(2026, 3, 10), id="late-evening"),
        pytest.param(at(date(2026, 3, 7), 11), 1, date(2026, 3, 10), id="saturday-receipt"),
        # Fri 13 February, then nothing until Mon 23 and Tue 24.
        pytest.param(at(date(2026, 2, 12)), 3, date(2026, 2, 24), id="across-tet"),
        # Received during Tết: counts from Mon 23, so Tue 24 ... Mon 2 March.
        pytest.param(at(date(2026, 2, 17), 10), 5, date(2026, 3, 2), id="received-during-tet"),
        pytest.param(at(date(2026, 2, 13), 19), 1, date(2026, 2, 24), id="eve-of-tet-evening"),
        # Thu 23, Fri 24 April; Mon 27 April is the observed Hùng Kings' day; Tue 28, Wed 29;
        # 30 April and 1 May off; Mon 4 May.
        pytest.param(at(date(2026, 4, 22)), 5, date(2026, 5, 4), id="hung-kings-and-30-4"),
        # Mon 31 August, 1 and 2 September off: Thu 3, Fri 4.
        pytest.param(at(date(2026, 8, 28)), 2, date(2026, 9, 4), id="national-day"),
        pytest.param(at(date(2026, 3, 2)), 0, date(2026, 3, 2), id="same-day-procedure"),
    ],
)
def test_working_day_due_date(received_at: datetime, days: int, due: date) -> None:
    assert compute_due_date(received_at, procedure(days), []) == due


def test_ten_working_days_without_pause() -> None:
    # Tue 3 ... Fri 6 (4), Mon 9 ... Fri 13 (9), Mon 16 (10).
    assert compute_due_date(at(date(2026, 3, 2)), procedure(10), []) == date(2026, 3, 16)


def test_closed_supplement_pause_pushes_the_date_back() -> None:
    # Requested Wed 4, supplied Mon 9 March: Thu 5, Fri 6 and Mon 9 were the applicant's.
    pauses = [Pause(date(2026, 3, 4), date(2026, 3, 9))]
    assert compute_due_date(at(date(2026, 3, 2)), procedure(10), pauses) == date(2026, 3, 19)


def test_supplement_arriving_the_same_day_costs_nothing() -> None:
    pauses = [Pause(date(2026, 3, 4), date(2026, 3, 4))]
    assert compute_due_date(at(date(2026, 3, 2)), procedure(10), pauses) == date(2026, 3, 16)


def test_several_pauses_add_up() -> None:
    pauses = [
        Pause(date(2026, 3, 4), date(2026, 3, 9)),  # 3 working days
        Pause(date(2026, 3, 11), date(2026, 3, 12)),  # 1 working day
    ]
    # 14 working days from Mon 2 March: ... Mon 16 (10), Tue 17, Wed 18, Thu 19, Fri 20.
    assert compute_due_date(at(date(2026, 3, 2)), procedure(10), pauses) == date(2026, 3, 20)


def test_open_pause_counts_up_to_today() -> None:
    pauses = [Pause(date(2026, 3, 4))]
    received = at(date(2026, 3, 2))
    # Thu 5 and Fri 6 so far.
    assert compute_due_date(received, procedure(10), pauses, today=date(2026, 3, 6)) == date(
        2026, 3, 18
    )
    # The weekend adds nothing; Monday adds a day.
    assert compute_due_date(received, procedure(10), pauses, today=date(2026, 3, 8)) == date(
        2026, 3, 18
    )
    assert compute_due_date(received, procedure(10), pauses, today=date(2026, 3, 9)) == date(
        2026, 3, 19
    )


def test_open_pause_needs_today() -> None:
    with pytest.raises(ValueError, match="today"):
        compute_due_date(at(date(2026, 3, 2)), procedure(10), [Pause(date(2026, 3, 4))])


def test_pause_over_tet_counts_only_working_days() -> None:
    received = at(date(2026, 2, 2))
    # Without a pause: Tue 3 ... Fri 13 February is 9, Mon 23 February is 10.
    assert compute_due_date(received, procedure(10), []) == date(2026, 2, 23)
    # Requested Wed 11, supplied Tue 24: Thu 12, Fri 13, Mon 23, Tue 24 - Tết is not counted.
    pauses = [Pause(date(2026, 2, 11), date(2026, 2, 24))]
    assert compute_due_date(received, procedure(10), pauses) == date(2026, 2, 27)


def test_pause_cannot_end_before_it_starts() -> None:
    with pytest.raises(ValueError, match="before it starts"):
        Pause(date(2026, 3, 9), date(2026, 3, 4))


def test_provincial_day_off_is_honoured() -> None:
    calendar = WorkingCalendar(extra_days_off=[date(2026, 3, 4)])
    due = compute_due_date(at(date(2026, 3, 2)), procedure(5), [], calendar=calendar)
    assert due == date(2026, 3, 10)


def test_extension_without_an_extended_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="no extended time limit"):
        compute_due_date(at(date(2026, 3, 2)), procedure(), [], extended=True)


def test_extended_working_day_limit() -> None:
    policy = WorkflowPolicy(
        extra_approval=False,
        clock="working_days",
        processing_days=3,
        extended_processing_days=5,
        kind="denunciation",
    )
    assert compute_due_date(at(date(2026, 3, 2)), policy, []) == date(2026, 3, 5)
    assert compute_due_date(at(date(2026, 3, 2)), policy, [], extended=True) == date(2026, 3, 9)


# --- calendar-day clock --------------------------------------------------------------


@pytest.mark.parametrize(
    ("received_at", "days", "due"),
    [
        pytest.param(at(date(2026, 3, 2)), 30, date(2026, 4, 1), id="lands-on-a-wednesday"),
        # Thu 5 March + 30 = Sat 4 April, so Mon 6 April.
        pytest.param(at(date(2026, 3, 5)), 30, date(2026, 4, 6), id="lands-on-a-saturday"),
        # Fri 27 March + 30 = Sun 26 April; Mon 27 is the observed Hùng Kings' day.
        pytest.param(at(date(2026, 3, 27)), 30, date(2026, 4, 28), id="lands-on-hung-kings"),
        # Wed 1 April + 30 = Fri 1 May; then the weekend.
        pytest.param(at(date(2026, 4, 1)), 30, date(2026, 5, 4), id="lands-on-labour-day"),
        # Fri 13 February + 5 = Wed 18 February, in the middle of Tết.
        pytest.param(at(date(2026, 2, 13)), 5, date(2026, 2, 23), id="lands-in-tet"),
        # After hours on Friday 27 March: counts from Mon 30 March, + 30 = Wed 29 April.
        pytest.param(at(date(2026, 3, 27), 18), 30, date(2026, 4, 29), id="late-evening"),
        # Received on Saturday 7 March: counts from Mon 9 March, + 30 = Wed 8 April.
        pytest.param(at(date(2026, 3, 7), 8), 30, date(2026, 4, 8), id="saturday-receipt"),
    ],
)
def test_calendar_day_due_date(received_at: datetime, days: int, due: date) -> None:
    assert compute_due_date(received_at, complaint(days), []) == due


def test_calendar_day_clock_extended() -> None:
    # Mon 2 March + 45 = Thu 16 April.
    assert compute_due_date(at(date(2026, 3, 2)), complaint(), [], extended=True) == date(
        2026, 4, 16
    )


def test_calendar_day_clock_counts_pauses_in_calendar_days() -> None:
    # Ten calendar days paused, weekends included: 2 March + 40 = Sat 11 April, so Mon 13.
    pauses = [Pause(date(2026, 3, 10), date(2026, 3, 20))]
    assert compute_due_date(at(date(2026, 3, 2)), complaint(), pauses) == date(2026, 4, 13)


def test_calendar_day_clock_with_open_pause() -> None:
    pauses = [Pause(date(2026, 3, 10))]
    due = compute_due_date(at(date(2026, 3, 2)), complaint(), pauses, today=date(2026, 3, 13))
    # Three days so far: 2 March + 33 = Sat 4 April, so Mon 6 April.
    assert due == date(2026, 4, 6)


# --- lateness ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("today", "resolved_on", "overdue"),
    [
        (date(2026, 3, 9), None, False),
        (date(2026, 3, 10), None, False),
        (date(2026, 3, 11), None, True),
        (date(2026, 3, 20), date(2026, 3, 10), False),
        (date(2026, 3, 20), date(2026, 3, 11), True),
        (date(2026, 3, 5), date(2026, 3, 5), False),
    ],
)
def test_is_overdue(today: date, resolved_on: date | None, overdue: bool) -> None:
    assert is_overdue(date(2026, 3, 10), today, resolved_on) is overdue


def test_resolved_on_time() -> None:
    due = date(2026, 3, 10)
    assert resolved_on_time(due, date(2026, 3, 9))
    assert resolved_on_time(due, due)
    assert not resolved_on_time(due, date(2026, 3, 11))


# --- statistics ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("received_at", "resolved_at", "pauses", "taken"),
    [
        pytest.param(at(date(2026, 3, 2)), at(date(2026, 3, 16), 15), [], 10, id="two-weeks"),
        pytest.param(
            at(date(2026, 3, 2)),
            at(date(2026, 3, 16), 15),
            [Pause(date(2026, 3, 4), date(2026, 3, 9))],
            7,
            id="minus-a-pause",
        ),
        pytest.param(at(date(2026, 3, 2), 8), at(date(2026, 3, 2), 16), [], 0, id="same-day"),
        # Received after hours, settled next morning: the clock had only just started.
        pytest.param(at(date(2026, 3, 2), 18), at(date(2026, 3, 3), 10), [], 0, id="overnight"),
        # Fri 13 February to Tue 24 February: Mon 23 and Tue 24 only.
        pytest.param(at(date(2026, 2, 13)), at(date(2026, 2, 24)), [], 2, id="across-tet"),
        # Withdrawn on Fri 13 March while a pause opened on Wed 11 March was still running.
        pytest.param(
            at(date(2026, 3, 2)),
            at(date(2026, 3, 13), 11),
            [Pause(date(2026, 3, 11))],
            7,
            id="open-pause-at-resolution",
        ),
    ],
)
def test_working_days_taken(
    received_at: datetime, resolved_at: datetime, pauses: list[Pause], taken: int
) -> None:
    assert working_days_taken(received_at, resolved_at, pauses, CAL) == taken


def test_working_days_taken_uses_vietnamese_dates() -> None:
    # 18:00 UTC on Sunday 15 March is 01:00 on Monday 16 March in Vietnam.
    resolved = datetime(2026, 3, 15, 18, 0, tzinfo=UTC)
    assert working_days_taken(at(date(2026, 3, 2)), resolved, [], None) == 10


# --- acceptance and the limits chosen at it -------------------------------------------


def accepted_complaint() -> WorkflowPolicy:
    return WorkflowPolicy(
        extra_approval=False,
        clock="calendar_days",
        processing_days=30,
        extended_processing_days=45,
        kind="complaint",
        acceptance_days=10,
        acceptance_clock="calendar_days",
        remote_area_processing_days=45,
        remote_area_extended_processing_days=60,
    )


def test_complaint_acceptance_due_ten_days_after_receipt_law_on_complaints_art_27() -> None:
    """Law on Complaints 2011, Art. 27: accepted or declined within 10 days of receipt.
    Received Monday 2 March: 10 calendar days later is Thursday 12 March."""
    assert due_after(at(date(2026, 3, 2)), 10, "calendar_days", calendar=CAL) == date(2026, 3, 12)


def test_denunciation_acceptance_due_seven_working_days_law_on_denunciation_art_29() -> None:
    """Law on Denunciation 2018, Art. 29: 7 working days from receipt. Received
    Wednesday 4 March: Thursday 5 to Friday 13 March are the seven working days."""
    assert due_after(at(date(2026, 3, 4)), 7, "working_days", calendar=CAL) == date(2026, 3, 13)


@pytest.mark.parametrize(
    ("complex_case", "remote_area", "days"),
    [
        pytest.param(False, False, 30, id="ordinary"),
        pytest.param(True, False, 45, id="complex"),
        pytest.param(False, True, 45, id="remote"),
        pytest.param(True, True, 60, id="complex-remote"),
    ],
)
def test_complaint_limits_law_on_complaints_art_28(
    complex_case: bool, remote_area: bool, days: int
) -> None:
    """Law on Complaints 2011, Art. 28: 30 days from acceptance, 45 for a complex case;
    in remote areas with difficult travel 45, and 60 for a complex case."""
    assert time_limit(accepted_complaint(), complex_case, remote_area) == days


def test_remote_area_limit_missing_from_the_catalogue_is_refused() -> None:
    policy = procedure()
    with pytest.raises(ValueError, match="remote-area"):
        time_limit(policy, remote_area=True)


def test_compute_due_date_counts_a_given_limit() -> None:
    # 45 calendar days from Monday 2 March is Thursday 16 April.
    due = compute_due_date(at(date(2026, 3, 2)), accepted_complaint(), [], calendar=CAL, days=45)
    assert due == date(2026, 4, 16)
