"""Rolling store counts up into the public figures, checked against sums done by hand."""

from __future__ import annotations

from processing.domain.dossier import Outcome
from processing.domain.statistics import OutcomeCount, OverdueCount, Tally, roll_up

IN_PROGRESS, ON_TIME, LATE, WITHDRAWN = (
    Outcome.IN_PROGRESS,
    Outcome.ON_TIME,
    Outcome.LATE,
    Outcome.WITHDRAWN,
)


def test_roll_up_per_procedure_agency_and_total() -> None:
    rows = [
        # Three in progress; on time: 4 + 4 + 10 days; late: 20 days.
        OutcomeCount("STNMT-MT", "MT-004", IN_PROGRESS, 3),
        OutcomeCount("STNMT-MT", "MT-004", ON_TIME, 3, working_days=18),
        OutcomeCount("STNMT-MT", "MT-004", LATE, 1, working_days=20),
        OutcomeCount("STNMT-MT", "MT-003", WITHDRAWN, 1),
        OutcomeCount("STNMT-MT", "MT-003", LATE, 1, working_days=17),
        OutcomeCount("STNMT-TTR", "KN-001", ON_TIME, 1, working_days=0),
    ]
    overdue = [OverdueCount("STNMT-MT", "MT-004", 2)]
    report = roll_up(rows, overdue)

    mt4 = report.by_procedure["MT-004"]
    assert (mt4.received, mt4.in_progress, mt4.resolved_on_time, mt4.resolved_late) == (7, 3, 3, 1)
    assert mt4.overdue_now == 2
    assert mt4.on_time_rate == 0.75
    # (4 + 4 + 10 + 20) / 4
    assert mt4.average_working_days == 9.5

    mt3 = report.by_procedure["MT-003"]
    assert (mt3.received, mt3.withdrawn, mt3.resolved_late, mt3.overdue_now) == (2, 1, 1, 0)
    assert mt3.on_time_rate == 0.0
    assert mt3.average_working_days == 17.0

    agency = report.by_agency["STNMT-MT"]
    assert (agency.received, agency.in_progress, agency.withdrawn) == (9, 3, 1)
    assert (agency.resolved_on_time, agency.resolved_late, agency.overdue_now) == (3, 2, 2)
    assert agency.on_time_rate == 0.6
    # (4 + 4 + 10 + 20 + 17) / 5
    assert agency.average_working_days == 11.0

    total = report.total
    assert (total.received, total.resolved_on_time, total.resolved_late) == (10, 4, 2)
    assert total.on_time_rate == 0.6667
    # 55 / 6
    assert total.average_working_days == 9.17
    assert list(report.by_procedure) == ["KN-001", "MT-003", "MT-004"]
    assert list(report.by_agency) == ["STNMT-MT", "STNMT-TTR"]


def test_nothing_resolved_means_no_rate_and_no_average() -> None:
    tally = Tally()
    tally.add(OutcomeCount("A", "P", IN_PROGRESS, 4))
    assert tally.on_time_rate is None
    assert tally.average_working_days is None
    assert tally.received == 4


def test_overdue_only_procedures_still_appear() -> None:
    report = roll_up([], [OverdueCount("A", "P", 1)])
    assert report.by_procedure["P"].overdue_now == 1
    assert report.total.overdue_now == 1
    assert report.total.received == 0
