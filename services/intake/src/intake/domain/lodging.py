"""Who may lodge a dossier on which channel, and where it goes. Pure: no I/O, no clock.

Under the one-stop mechanism (cơ chế một cửa: Decree 61/2018/NĐ-CP as amended by Decree
107/2021/NĐ-CP, replaced from 1 July 2025 by Decree 118/2025/NĐ-CP), paper dossiers are
received by the department's one-stop desk (Bộ phận Một cửa) for every unit of the
department, and the desk hands each dossier on to the unit that settles it. So:

- ``online``: portal clients, for a procedure that accepts online lodging;
- ``counter`` and ``post``: the desk, for any unit's procedure; an officer or leader of
  the procedure's unit may still key his own unit's paper dossiers;
- ``phone``: the hotline officer, for petitions (phản ánh, kiến nghị) only.

Whoever keys it, the dossier is routed to the procedure's agency: its receipt code
carries that agency's prefix and processing puts it in that agency's queue.
"""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from chassis.calendar import RECEIPT_CUTOFF, VN_TZ
from chassis.catalogue import DossierKind, Procedure
from chassis.events import Channel

__all__ = [
    "STAFF_CHANNELS",
    "Lodger",
    "accepts_online_lodging",
    "kind_refusal",
    "lodging_refusal",
    "postal_receipt_errors",
    "receipt_moment",
]

# Channels on which staff key a paper dossier the applicant brought or sent.
STAFF_CHANNELS = frozenset({Channel.COUNTER, Channel.POST})

_PORTAL = "portal"
_DESK = "desk"
_HOTLINE = "hotline"
_UNIT_STAFF = frozenset({"officer", "leader"})


@dataclass(frozen=True)
class Lodger:
    """Who keys the dossier: the roles and the unit of the caller's token."""

    roles: Set[str]
    agency: str | None = None


def accepts_online_lodging(procedure: Procedure) -> bool:
    """Full and partial online procedures are both lodged online (a partial one's later
    steps, paying or collecting the result, happen in person); the others are not."""
    return procedure.accepts_online_lodging


def lodging_refusal(procedure: Procedure, channel: Channel, lodger: Lodger) -> str | None:
    """Why ``lodger`` may not lodge ``procedure`` on ``channel`` (a 403), or None.

    Desk routing (Decree 61/2018/NĐ-CP, Article 15, receipt of dossiers, and Article 16,
    handing them to the competent unit; carried over by Decree 118/2025/NĐ-CP from 1 July
    2025): a desk officer keys counter and postal dossiers of any unit's procedure;
    officers and leaders only of their own unit's.
    """
    roles = lodger.roles
    if channel is Channel.ONLINE:
        return None if _PORTAL in roles else "the online channel is for portal clients"
    if channel is Channel.PHONE:
        return None if _HOTLINE in roles else "the phone channel is for the hotline officer"
    if _DESK in roles:
        return None
    if not roles & _UNIT_STAFF:
        return f"the {channel.value} channel is for the one-stop desk and for officers"
    if lodger.agency != procedure.agency:
        return (
            f"procedure {procedure.code} is settled by {procedure.agency}: the one-stop desk "
            "or an officer of that unit keys it"
        )
    return None


def kind_refusal(procedure: Procedure, channel: Channel) -> str | None:
    """The hotline takes petitions; a complaint or denunciation needs a signed letter or
    a record signed at the desk (Law on Complaints, Art. 8; Law on Denunciation, Art. 22)."""
    if channel is Channel.PHONE and procedure.kind is not DossierKind.PETITION:
        return (
            f"procedure {procedure.code} is a {procedure.kind.value}: the phone channel "
            "takes petitions only"
        )
    return None


def postal_receipt_errors(
    channel: Channel, received_on: date | None, today: date, max_days: int
) -> list[tuple[str, str]]:
    """``received_on`` is the day a postal dossier reached the department (its incoming
    mail register), from which the statutory time runs; no other channel has one."""
    if received_on is None:
        return []
    if channel is not Channel.POST:
        return [("/received_on", "only a postal dossier has a date of receipt by post")]
    if received_on > today:
        return [("/received_on", "the date of receipt cannot be in the future")]
    if received_on < today - timedelta(days=max_days):
        return [("/received_on", f"at most {max_days} days before the day it is keyed in")]
    return []


def receipt_moment(channel: Channel, received_on: date | None, now: datetime) -> datetime:
    """When the department received the dossier: now, or for a letter keyed on a later
    day its day of receipt, counted as received within office hours."""
    if (
        channel is Channel.POST
        and received_on is not None
        and received_on < now.astimezone(VN_TZ).date()
    ):
        return datetime.combine(received_on, RECEIPT_CUTOFF, VN_TZ)
    return now
