"""The dossier workflow as a pure state machine.

Every procedure follows the same path (intake check, review, decision, returning the
result); what differs between procedures - a leader's extra approval, the clock, the
right to extend a complaint's deadline - comes from the catalogue entry through
`WorkflowPolicy`, never from branches on procedure codes.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

# The statuses are part of the event contract: status changes carry them by value.
from chassis.events import DossierStatus

__all__ = [
    "CLOCK_PAUSED_STATUSES",
    "EXTENDABLE_KINDS",
    "TERMINAL_STATUSES",
    "Action",
    "ActorRole",
    "DossierStatus",
    "MissingParameter",
    "RoleNotPermitted",
    "Transition",
    "TransitionNotAllowed",
    "WorkflowError",
    "WorkflowPolicy",
    "allowed_actions",
    "apply",
    "check_required_documents",
    "is_terminal",
    "transitions_for",
]


class Action(StrEnum):
    RECEIVE = "receive"
    REQUEST_SUPPLEMENT = "request_supplement"
    SUPPLEMENT = "supplement"
    START_REVIEW = "start_review"
    FORWARD_FOR_APPROVAL = "forward_for_approval"
    APPROVE = "approve"
    REJECT = "reject"
    RETURN_RESULT = "return_result"
    WITHDRAW = "withdraw"
    EXTEND_DEADLINE = "extend_deadline"


class ActorRole(StrEnum):
    SYSTEM = "system"
    CITIZEN = "citizen"
    OFFICER = "officer"
    LEADER = "leader"


# A rejection is not terminal: the rejection notice still has to be handed back to the
# applicant, so rejected dossiers end in result_returned like approved ones.
TERMINAL_STATUSES: frozenset[DossierStatus] = frozenset(
    {DossierStatus.RESULT_RETURNED, DossierStatus.WITHDRAWN}
)

# The statutory clock does not run while the applicant owes documents.
CLOCK_PAUSED_STATUSES: frozenset[DossierStatus] = frozenset({DossierStatus.SUPPLEMENT_REQUESTED})

# Only the Law on Complaints and the Law on Denunciations allow a longer time limit for
# complicated cases; administrative procedures and petitions have a fixed one.
EXTENDABLE_KINDS: frozenset[str] = frozenset({"complaint", "denunciation"})

_CLOCKS: frozenset[str] = frozenset({"working_days", "calendar_days"})
_KINDS: frozenset[str] = frozenset({"procedure", "petition", "complaint", "denunciation"})

# A leader holds every power an officer has, plus the approving authority.
_STAFF: frozenset[ActorRole] = frozenset({ActorRole.OFFICER, ActorRole.LEADER})


def _plain(value: Any) -> Any:
    # Catalogue fields may be enums; the policy stores their plain values so that it
    # does not depend on the catalogue's types.
    return getattr(value, "value", value)


@dataclass(frozen=True)
class WorkflowPolicy:
    """The part of a catalogue procedure that shapes its dossiers' workflow and clock."""

    extra_approval: bool
    clock: str
    processing_days: int
    extended_processing_days: int | None
    kind: str

    def __post_init__(self) -> None:
        if self.clock not in _CLOCKS:
            raise ValueError(f"unknown clock {self.clock!r}; expected one of {sorted(_CLOCKS)}")
        if self.kind not in _KINDS:
            raise ValueError(
                f"unknown dossier kind {self.kind!r}; expected one of {sorted(_KINDS)}"
            )
        if self.processing_days < 0:
            raise ValueError("processing_days must not be negative")
        if (
            self.extended_processing_days is not None
            and self.extended_processing_days < self.processing_days
        ):
            raise ValueError("extended_processing_days must not be shorter than processing_days")

    @classmethod
    def from_procedure(cls, procedure: Any) -> WorkflowPolicy:
        """Read the policy off a catalogue `Procedure` (or anything shaped like one)."""
        extended = procedure.extended_processing_days
        return cls(
            extra_approval=bool(procedure.extra_approval),
            clock=str(_plain(procedure.clock)),
            processing_days=int(procedure.processing_days),
            extended_processing_days=None if extended is None else int(extended),
            kind=str(_plain(procedure.kind)),
        )

    @property
    def can_extend_deadline(self) -> bool:
        return self.kind in EXTENDABLE_KINDS and self.extended_processing_days is not None


@dataclass(frozen=True)
class Transition:
    """One edge of the workflow: who may take `action` from which statuses, with what.

    `to_state` is None for actions that leave the status unchanged (extending a deadline).
    `requires` names the command fields that must be present and non-empty.
    """

    action: Action
    from_states: frozenset[DossierStatus]
    to_state: DossierStatus | None
    roles: frozenset[ActorRole]
    requires: frozenset[str] = frozenset()


class WorkflowError(Exception):
    """Base of the errors a command against the workflow can raise."""


class TransitionNotAllowed(WorkflowError):
    def __init__(self, status: DossierStatus, action: Action, allowed: list[Action]) -> None:
        self.status = status
        self.action = action
        self.allowed = allowed
        shown = ", ".join(allowed) or "none"
        super().__init__(
            f"action {action} is not allowed on a dossier in status {status}; allowed: {shown}"
        )


class MissingParameter(WorkflowError):
    def __init__(self, action: Action, missing: list[str]) -> None:
        self.action = action
        self.missing = missing
        super().__init__(f"action {action} requires: {', '.join(missing)}")


class RoleNotPermitted(WorkflowError):
    def __init__(self, action: Action, role: ActorRole) -> None:
        self.action = action
        self.role = role
        super().__init__(f"role {role} may not perform action {action}")


def is_terminal(status: DossierStatus) -> bool:
    return status in TERMINAL_STATUSES


def transitions_for(policy: WorkflowPolicy) -> tuple[Transition, ...]:
    """Every edge of the workflow a dossier under `policy` may take."""
    s = DossierStatus
    reviewable = frozenset({s.RECEIVED, s.SUPPLEMENTED})
    edges: list[Transition] = [
        Transition(
            Action.RECEIVE, frozenset({s.SUBMITTED}), s.RECEIVED, frozenset({ActorRole.SYSTEM})
        ),
        # The automatic check names the documents it could not find, so the applicant
        # knows exactly what to bring; an officer explains the request in words.
        Transition(
            Action.REQUEST_SUPPLEMENT,
            frozenset({s.SUBMITTED}),
            s.SUPPLEMENT_REQUESTED,
            frozenset({ActorRole.SYSTEM}),
            frozenset({"reason", "missing_documents"}),
        ),
        Transition(
            Action.REQUEST_SUPPLEMENT,
            frozenset({s.RECEIVED, s.IN_REVIEW}),
            s.SUPPLEMENT_REQUESTED,
            _STAFF,
            frozenset({"reason"}),
        ),
        Transition(
            Action.SUPPLEMENT,
            frozenset({s.SUPPLEMENT_REQUESTED}),
            s.SUPPLEMENTED,
            frozenset({ActorRole.CITIZEN}),
        ),
        Transition(Action.START_REVIEW, reviewable, s.IN_REVIEW, _STAFF),
    ]

    withdrawable = {s.SUBMITTED, s.RECEIVED, s.IN_REVIEW, s.SUPPLEMENT_REQUESTED, s.SUPPLEMENTED}
    if policy.extra_approval:
        withdrawable.add(s.AWAITING_APPROVAL)
        edges += [
            Transition(
                Action.FORWARD_FOR_APPROVAL, frozenset({s.IN_REVIEW}), s.AWAITING_APPROVAL, _STAFF
            ),
            Transition(
                Action.APPROVE,
                frozenset({s.AWAITING_APPROVAL}),
                s.APPROVED,
                frozenset({ActorRole.LEADER}),
                frozenset({"result_reference"}),
            ),
            Transition(
                Action.REJECT,
                frozenset({s.IN_REVIEW}),
                s.REJECTED,
                _STAFF,
                frozenset({"reason"}),
            ),
            # Once forwarded, the decision belongs to the leader alone: an officer turning
            # the dossier down would bypass the approving authority just as approving would.
            Transition(
                Action.REJECT,
                frozenset({s.AWAITING_APPROVAL}),
                s.REJECTED,
                frozenset({ActorRole.LEADER}),
                frozenset({"reason"}),
            ),
        ]
    else:
        edges += [
            Transition(
                Action.APPROVE,
                frozenset({s.IN_REVIEW}),
                s.APPROVED,
                _STAFF,
                frozenset({"result_reference"}),
            ),
            Transition(
                Action.REJECT,
                frozenset({s.IN_REVIEW}),
                s.REJECTED,
                _STAFF,
                frozenset({"reason"}),
            ),
        ]

    edges += [
        Transition(
            Action.RETURN_RESULT,
            frozenset({s.APPROVED, s.REJECTED}),
            s.RESULT_RETURNED,
            _STAFF,
        ),
        # After the decision there is nothing left to withdraw: the result exists and
        # only has to be handed over.
        Transition(
            Action.WITHDRAW,
            frozenset(withdrawable),
            s.WITHDRAWN,
            frozenset({ActorRole.CITIZEN}),
        ),
    ]

    if policy.can_extend_deadline:
        # Extending makes sense only while the case is still being settled: not before it
        # has been accepted, and not once the decision is made.
        open_case = frozenset(
            {s.RECEIVED, s.IN_REVIEW, s.SUPPLEMENT_REQUESTED, s.SUPPLEMENTED}
            | ({s.AWAITING_APPROVAL} if policy.extra_approval else set())
        )
        edges.append(
            Transition(Action.EXTEND_DEADLINE, open_case, None, _STAFF, frozenset({"reason"}))
        )
    return tuple(edges)


def _usable(transition: Transition, deadline_extended: bool) -> bool:
    # The statutory extension may be granted only once per case.
    return not (transition.action is Action.EXTEND_DEADLINE and deadline_extended)


def allowed_actions(
    status: DossierStatus,
    role: ActorRole,
    policy: WorkflowPolicy,
    deadline_extended: bool = False,
) -> list[Action]:
    """Actions `role` may take on a dossier in `status`, in workflow order."""
    permitted = {
        t.action
        for t in transitions_for(policy)
        if status in t.from_states and role in t.roles and _usable(t, deadline_extended)
    }
    return [action for action in Action if action in permitted]


def _is_blank(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    # An empty list of missing documents explains nothing to the applicant.
    return isinstance(value, Collection) and len(value) == 0


def apply(
    status: DossierStatus,
    action: Action,
    role: ActorRole,
    policy: WorkflowPolicy,
    params: Mapping[str, Any],
    deadline_extended: bool = False,
) -> DossierStatus:
    """Status of the dossier after `role` takes `action`; raises if the command is invalid.

    Checks go from the dossier outwards: whether the action exists in this status at
    all, then whether this role may take it, then whether the command is complete.
    """
    candidates = [
        t
        for t in transitions_for(policy)
        if t.action is action and status in t.from_states and _usable(t, deadline_extended)
    ]
    if not candidates:
        raise TransitionNotAllowed(
            status, action, allowed_actions(status, role, policy, deadline_extended)
        )
    chosen = next((t for t in candidates if role in t.roles), None)
    if chosen is None:
        raise RoleNotPermitted(action, role)
    missing = sorted(name for name in chosen.requires if _is_blank(params.get(name)))
    if missing:
        raise MissingParameter(action, missing)
    return status if chosen.to_state is None else chosen.to_state


def check_required_documents(
    required: Iterable[tuple[str, bool]],
    provided_codes: Iterable[str],
) -> list[str]:
    """Mandatory document codes missing from a dossier, in catalogue order.

    This is the automatic intake check: an empty result lets the system receive the
    dossier, anything else becomes a supplement request naming those documents.
    """
    provided = set(provided_codes)
    missing: list[str] = []
    for code, mandatory in required:
        if mandatory and code not in provided and code not in missing:
            missing.append(code)
    return missing
