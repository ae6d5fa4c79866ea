"""Intake's use cases: one method or function per command and per consumed event.

They take their dependencies (the ports of ``intake.ports``, the catalogue, the keys,
the settings, a clock) as parameters and import no web framework, broker or store
client: ``intake.api`` calls them for HTTP, ``intake.adapters.projection`` for events.
"""

from intake.service.common import ConcealedNotFound
from intake.service.follow_up import FollowUp, SecondFactor
from intake.service.identities import Identities
from intake.service.projection import project_new_appointment, project_status_change
from intake.service.slips import Slips
from intake.service.submissions import Receipt, Submissions

__all__ = [
    "ConcealedNotFound",
    "FollowUp",
    "Identities",
    "Receipt",
    "SecondFactor",
    "Slips",
    "Submissions",
    "project_new_appointment",
    "project_status_change",
]
