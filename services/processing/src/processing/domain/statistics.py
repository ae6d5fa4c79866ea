"""Public on-time statistics, rolled up from counts the store groups for us.

The figures describe a cohort: the dossiers received in the period asked for, and what
has become of them so far. Every dossier of the cohort is in exactly one of in
progress, resolved on time, resolved late or withdrawn, so those four add up to
"received". A dossier is resolved when the department decides it (approved or
rejected), which is the moment that counts against its due date; handing the result
over depends on the applicant coming for it.

The store groups per (agency, procedure, outcome), counting the dossiers and summing
the working days they took; the roll-ups, rates and averages are made here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from processing.domain.dossier import Outcome

__all__ = ["OutcomeCount", "OverdueCount", "Report", "Tally", "roll_up"]


@dataclass(frozen=True)
class OutcomeCount:
    """How many dossiers of one procedure at one agency share an outcome, and the working
    days they took together (only decided dossiers have taken any)."""

    agency: str
    procedure_code: str
    outcome: Outcome
    count: int
    working_days: int = 0


@dataclass(frozen=True)
class OverdueCount:
    agency: str
    procedure_code: str
    count: int


@dataclass
class Tally:
    received: int = 0
    in_progress: int = 0
    withdrawn: int = 0
    resolved_on_time: int = 0
    resolved_late: int = 0
    overdue_now: int = 0
    working_days_total: int = 0

    def add(self, row: OutcomeCount) -> None:
        self.received += row.count
        if row.outcome is Outcome.IN_PROGRESS:
            self.in_progress += row.count
        elif row.outcome is Outcome.WITHDRAWN:
            self.withdrawn += row.count
        else:
            if row.outcome is Outcome.ON_TIME:
                self.resolved_on_time += row.count
            else:
                self.resolved_late += row.count
            self.working_days_total += row.working_days

    @property
    def resolved(self) -> int:
        return self.resolved_on_time + self.resolved_late

    @property
    def on_time_rate(self) -> float | None:
        """Share of resolved dossiers resolved on time; None when nothing was resolved."""
        if self.resolved == 0:
            return None
        return round(self.resolved_on_time / self.resolved, 4)

    @property
    def average_working_days(self) -> float | None:
        if self.resolved == 0:
            return None
        return round(self.working_days_total / self.resolved, 2)


@dataclass(frozen=True)
class Report:
    by_procedure: dict[str, Tally]
    by_agency: dict[str, Tally]
    total: Tally


def roll_up(outcomes: Iterable[OutcomeCount], overdue: Iterable[OverdueCount]) -> Report:
    """Per procedure, per agency and overall tallies, each key in sorted order."""
    by_procedure: dict[str, Tally] = {}
    by_agency: dict[str, Tally] = {}
    total = Tally()
    for row in outcomes:
        for tally in (
            by_procedure.setdefault(row.procedure_code, Tally()),
            by_agency.setdefault(row.agency, Tally()),
            total,
        ):
            tally.add(row)
    for late in overdue:
        for tally in (
            by_procedure.setdefault(late.procedure_code, Tally()),
            by_agency.setdefault(late.agency, Tally()),
            total,
        ):
            tally.overdue_now += late.count
    return Report(
        by_procedure=dict(sorted(by_procedure.items())),
        by_agency=dict(sorted(by_agency.items())),
        total=total,
    )
