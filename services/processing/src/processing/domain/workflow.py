"""The dossier workflow as a pure state machine.

Every procedure follows the same path (intake check, review, decision, returning the
result); what differs between procedures - a leader's extra approval, the clock, the
right to extend a complaint's deadline - comes from the catalogue entry through
`WorkflowPolicy`, never from branches on procedure codes.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

# The statuses are part of the event contract: status changes carry them by value.
from chassis.events import DossierStatus

__all__ = [
    "ACCEPTANCE_KINDS",
    "APOLOGY_KINDS",
    "CLOCK_PAUSED_STATUSES",
    "DECISION_KINDS",
    "EXTENDABLE_KINDS",
    "TERMINAL_STATUSES",
    "Action",
    "ActorRole",
    "DossierStatus",
    "MissingParameter",
    "Progress",
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
    # Thụ lý: a complaint or denunciation is taken up for settlement, or not.
    ACCEPT = "accept"
    DECLINE = "decline"
    REQUEST_SUPPLEMENT = "request_supplement"
    SUPPLEMENT = "supplement"
    START_REVIEW = "start_review"
    FORWARD_FOR_APPROVAL = "forward_for_approval"
    APPROVE = "approve"
    REJECT = "reject"
    RETURN_RESULT = "return_result"
    WITHDRAW = "withdraw"
    EXTEND_DEADLINE = "extend_deadline"
    # The apology slip with a new appointment: the officer drafts it, a leader signs it.
    PROPOSE_APOLOGY = "propose_apology"
    SIGN_APOLOGY = "sign_apology"


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

# The same two laws make the authority first decide whether to accept the case (thụ lý:
# Law on Complaints 2011, Art. 27; Law on Denunciation 2018, Art. 29) and answer it in a
# written decision or conclusion whose number and date are recorded.
ACCEPTANCE_KINDS: frozenset[str] = EXTENDABLE_KINDS
DECISION_KINDS: frozenset[str] = EXTENDABLE_KINDS

# The apology slip with a new appointment is the remedy Decree 61/2018 (Art. 19, as
# amended by Decree 118/2025) gives for late administrative procedures; complaints and
# denunciations have their statutory extensions instead.
APOLOGY_KINDS: frozenset[str] = frozenset({"procedure", "petition"})

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
    # Complaints and denunciations: days from receipt to the decision to accept, on
    # their own clock (Law on Complaints 2011, Art. 27: 10 days; Law on Denunciation
    # 2018, Art. 29: 7 working days). None: no acceptance step.
    acceptance_days: int | None = None
    acceptance_clock: str = "working_days"
    # Complaints in remote areas with difficult travel (Law on Complaints 2011, Art. 28,
    # 37): the limits of an ordinary and of a complex case there.
    remote_area_processing_days: int | None = None
    remote_area_extended_processing_days: int | None = None
    # Denunciations (Law on Denunciation 2018, Art. 30): each extension adds at most
    # extension_days, at most max_extensions times.
    extension_days: int | None = None
    max_extensions: int = 0

    def __post_init__(self) -> None:
        for clock in (self.clock, self.acceptance_clock):
            if clock not in _CLOCKS:
                raise ValueError(f"unknown clock {clock!r}; expected one of {sorted(_CLOCKS)}")
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
        if self.acceptance_days is not None and self.acceptance_days < 1:
            raise ValueError("acceptance_days must be positive")
        if self.max_extensions < 0:
            raise ValueError("max_extensions must not be negative")
        if self.max_extensions and (self.extension_days is None or self.extension_days < 1):
            raise ValueError("max_extensions needs a positive extension_days")

    @classmethod
    def from_procedure(cls, procedure: Any) -> WorkflowPolicy:
        """Read the policy off a catalogue `Procedure` (or anything shaped like one)."""
        extended = procedure.extended_processing_days
        acceptance = getattr(procedure, "acceptance_days", None)
        remote = getattr(procedure, "remote_area_processing_days", None)
        remote_extended = getattr(procedure, "remote_area_extended_processing_days", None)
        extension = getattr(procedure, "extension_days", None)
        return cls(
            extra_approval=bool(procedure.extra_approval),
            clock=str(_plain(procedure.clock)),
            processing_days=int(procedure.processing_days),
            extended_processing_days=None if extended is None else int(extended),
            kind=str(_plain(procedure.kind)),
            acceptance_days=None if acceptance is None else int(acceptance),
            acceptance_clock=str(_plain(getattr(procedure, "acceptance_clock", "working_days"))),
            remote_area_processing_days=None if remote is None else int(remote),
            remote_area_extended_processing_days=(
                None if remote_extended is None else int(remote_extended)
            ),
            extension_days=None if extension is None else int(extension),
            max_extensions=int(getattr(procedure, "max_extensions", 0) or 0),
        )

    @property
    def needs_acceptance(self) -> bool:
        return self.kind in ACCEPTANCE_KINDS and self.acceptance_days is not None

    @property
    def extends_by_days(self) -> bool:
        """Extended a number of days at a time (denunciations), rather than once to the
        complex case's limit (complaints)."""
        return self.extension_days is not None and self.max_extensions > 0

    @property
    def deadline_extensions(self) -> int:
        """How many times a case's deadline may be extended."""
        if self.kind not in EXTENDABLE_KINDS:
            return 0
        if self.extends_by_days:
            return self.max_extensions
        return 1 if self.extended_processing_days is not None else 0

    @property
    def can_extend_deadline(self) -> bool:
        return self.deadline_extensions > 0


@dataclass(frozen=True)
class Progress:
    """What a dossier has already used of the workflow's limited steps."""

    extensions: int = 0
    supplement_requests: int = 0
    apology_proposed: bool = False
    # A complaint or denunciation has been accepted (thụ lý).
    accepted: bool = False


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
    decided = frozenset({"decision"}) if policy.kind in DECISION_KINDS else frozenset()
    # A complete complaint or denunciation waits for acceptance (thụ lý) rather than
    # going straight to the officer's review.
    received = s.AWAITING_ACCEPTANCE if policy.needs_acceptance else s.RECEIVED
    edges: list[Transition] = [
        Transition(
            Action.RECEIVE, frozenset({s.SUBMITTED}), received, frozenset({ActorRole.SYSTEM})
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
    ]
    if policy.needs_acceptance:
        # Within the acceptance time the officer accepts the case, or declines it in
        # writing with the reason; a case completed by a supplement is accepted then.
        # Both only until it is accepted (see `_usable`).
        undecided = frozenset({s.AWAITING_ACCEPTANCE, s.SUPPLEMENTED})
        edges += [
            Transition(Action.ACCEPT, undecided, s.IN_REVIEW, _STAFF),
            Transition(Action.DECLINE, undecided, s.REJECTED, _STAFF, frozenset({"reason"})),
        ]
    edges += [
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

    # A complaint's or denunciation's decision carries its own number, which stands as
    # the result's reference.
    approved = decided or frozenset({"result_reference"})
    withdrawable = {s.SUBMITTED, s.RECEIVED, s.IN_REVIEW, s.SUPPLEMENT_REQUESTED, s.SUPPLEMENTED}
    if policy.needs_acceptance:
        withdrawable.add(s.AWAITING_ACCEPTANCE)
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
                approved,
            ),
            Transition(
                Action.REJECT,
                frozenset({s.IN_REVIEW}),
                s.REJECTED,
                _STAFF,
                frozenset({"reason"}) | decided,
            ),
            # Once forwarded, the decision belongs to the leader alone: an officer turning
            # the dossier down would bypass the approving authority just as approving would.
            Transition(
                Action.REJECT,
                frozenset({s.AWAITING_APPROVAL}),
                s.REJECTED,
                frozenset({ActorRole.LEADER}),
                frozenset({"reason"}) | decided,
            ),
        ]
    else:
        edges += [
            Transition(
                Action.APPROVE,
                frozenset({s.IN_REVIEW}),
                s.APPROVED,
                _STAFF,
                approved,
            ),
            Transition(
                Action.REJECT,
                frozenset({s.IN_REVIEW}),
                s.REJECTED,
                _STAFF,
                frozenset({"reason"}) | decided,
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
    if policy.kind in APOLOGY_KINDS:
        # While the clock runs and the result is not decided yet.
        running = frozenset(
            {s.RECEIVED, s.IN_REVIEW, s.SUPPLEMENTED}
            | ({s.AWAITING_APPROVAL} if policy.extra_approval else set())
        )
        edges += [
            Transition(
                Action.PROPOSE_APOLOGY,
                running,
                None,
                _STAFF,
                frozenset({"new_due_date", "apology_text"}),
            ),
            Transition(Action.SIGN_APOLOGY, running, None, frozenset({ActorRole.LEADER})),
        ]
    return tuple(edges)


def _progress(progress: Progress | None, deadline_extended: bool) -> Progress:
    progress = progress or Progress()
    if deadline_extended and progress.extensions == 0:
        return replace(progress, extensions=1)
    return progress


def _usable(
    transition: Transition,
    status: DossierStatus,
    policy: WorkflowPolicy,
    progress: Progress,
    role: ActorRole | None = None,
) -> bool:
    if transition.action is Action.EXTEND_DEADLINE:
        # A case's time limit runs from its acceptance; there is nothing to extend before.
        started = progress.accepted or not policy.needs_acceptance
        return started and progress.extensions < policy.deadline_extensions
    if transition.action in (Action.ACCEPT, Action.DECLINE):
        return not progress.accepted
    if (
        transition.action is Action.START_REVIEW
        and policy.needs_acceptance
        and status is DossierStatus.SUPPLEMENTED
    ):
        # A supplemented complaint or denunciation is reviewed only once accepted.
        return progress.accepted
    if transition.action is Action.SIGN_APOLOGY:
        return progress.apology_proposed
    if transition.action is Action.REQUEST_SUPPLEMENT and role is ActorRole.OFFICER:
        # A supplement is asked for once; a second request is a leader's to make.
        return progress.supplement_requests == 0
    return True


def allowed_actions(
    status: DossierStatus,
    role: ActorRole,
    policy: WorkflowPolicy,
    deadline_extended: bool = False,
    progress: Progress | None = None,
) -> list[Action]:
    """Actions `role` may take on a dossier in `status`, in workflow order."""
    used = _progress(progress, deadline_extended)
    permitted = {
        t.action
        for t in transitions_for(policy)
        if status in t.from_states and role in t.roles and _usable(t, status, policy, used, role)
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
    progress: Progress | None = None,
) -> DossierStatus:
    """Status of the dossier after `role` takes `action`; raises if the command is invalid.

    Checks go from the dossier outwards: whether the action exists in this status at
    all, then whether this role may take it, then whether the command is complete.
    """
    used = _progress(progress, deadline_extended)
    candidates = [
        t
        for t in transitions_for(policy)
        if t.action is action and status in t.from_states and _usable(t, status, policy, used)
    ]
    if not candidates:
        raise TransitionNotAllowed(
            status, action, allowed_actions(status, role, policy, False, used)
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
