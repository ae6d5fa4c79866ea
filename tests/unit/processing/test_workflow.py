"""The dossier workflow checked against tables written out by hand.

The expected tables below are the specification: they are typed in, not computed from
`transitions_for`, so a wrong edge in the implementation shows up as a mismatch.
"""

from __future__ import annotations

import itertools
from datetime import date
from enum import StrEnum
from types import SimpleNamespace
from typing import Any

import pytest

from chassis.catalogue import Clock, DossierKind, Procedure
from chassis.events import Decision
from processing.domain.workflow import (
    TERMINAL_STATUSES,
    Action,
    ActorRole,
    DossierStatus,
    MissingParameter,
    Progress,
    RoleNotPermitted,
    TransitionNotAllowed,
    WorkflowPolicy,
    allowed_actions,
    apply,
    check_required_documents,
    is_terminal,
    transitions_for,
)

S = DossierStatus
A = Action
SYSTEM, CITIZEN, OFFICER, LEADER = (
    ActorRole.SYSTEM,
    ActorRole.CITIZEN,
    ActorRole.OFFICER,
    ActorRole.LEADER,
)
STAFF = frozenset({OFFICER, LEADER})

# A command carrying every field any action may need, so that only status and role decide.
FULL_PARAMS: dict[str, Any] = {
    "reason": "Thiếu bản sao sổ đỏ",
    "missing_documents": ["GCN_QSDD"],
    "result_reference": "QD-123/STNMT",
    "decision": Decision(number="12/QĐ-STNMT", issued_on=date(2026, 3, 20), summary="Giữ nguyên"),
    "new_due_date": date(2026, 3, 30),
    "apology_text": "Xin lỗi vì chậm trả kết quả",
}

Table = dict[tuple[DossierStatus, Action], tuple[frozenset[ActorRole], DossierStatus]]

# A procedure decided by the officer's department without a leader's signature.
PLAIN_TABLE: Table = {
    (S.SUBMITTED, A.RECEIVE): (frozenset({SYSTEM}), S.RECEIVED),
    (S.SUBMITTED, A.REQUEST_SUPPLEMENT): (frozenset({SYSTEM}), S.SUPPLEMENT_REQUESTED),
    (S.SUBMITTED, A.WITHDRAW): (frozenset({CITIZEN}), S.WITHDRAWN),
    (S.RECEIVED, A.REQUEST_SUPPLEMENT): (STAFF, S.SUPPLEMENT_REQUESTED),
    (S.RECEIVED, A.START_REVIEW): (STAFF, S.IN_REVIEW),
    (S.RECEIVED, A.WITHDRAW): (frozenset({CITIZEN}), S.WITHDRAWN),
    (S.IN_REVIEW, A.REQUEST_SUPPLEMENT): (STAFF, S.SUPPLEMENT_REQUESTED),
    (S.IN_REVIEW, A.APPROVE): (STAFF, S.APPROVED),
    (S.IN_REVIEW, A.REJECT): (STAFF, S.REJECTED),
    (S.IN_REVIEW, A.WITHDRAW): (frozenset({CITIZEN}), S.WITHDRAWN),
    (S.SUPPLEMENT_REQUESTED, A.SUPPLEMENT): (frozenset({CITIZEN}), S.SUPPLEMENTED),
    (S.SUPPLEMENT_REQUESTED, A.WITHDRAW): (frozenset({CITIZEN}), S.WITHDRAWN),
    (S.SUPPLEMENTED, A.START_REVIEW): (STAFF, S.IN_REVIEW),
    (S.SUPPLEMENTED, A.WITHDRAW): (frozenset({CITIZEN}), S.WITHDRAWN),
    (S.APPROVED, A.RETURN_RESULT): (STAFF, S.RESULT_RETURNED),
    (S.REJECTED, A.RETURN_RESULT): (STAFF, S.RESULT_RETURNED),
}

# A procedure whose result a leader must sign: the officer forwards instead of approving.
APPROVAL_TABLE: Table = {
    (S.SUBMITTED, A.RECEIVE): (frozenset({SYSTEM}), S.RECEIVED),
    (S.SUBMITTED, A.REQUEST_SUPPLEMENT): (frozenset({SYSTEM}), S.SUPPLEMENT_REQUESTED),
    (S.SUBMITTED, A.WITHDRAW): (frozenset({CITIZEN}), S.WITHDRAWN),
    (S.RECEIVED, A.REQUEST_SUPPLEMENT): (STAFF, S.SUPPLEMENT_REQUESTED),
    (S.RECEIVED, A.START_REVIEW): (STAFF, S.IN_REVIEW),
    (S.RECEIVED, A.WITHDRAW): (frozenset({CITIZEN}), S.WITHDRAWN),
    (S.IN_REVIEW, A.REQUEST_SUPPLEMENT): (STAFF, S.SUPPLEMENT_REQUESTED),
    (S.IN_REVIEW, A.FORWARD_FOR_APPROVAL): (STAFF, S.AWAITING_APPROVAL),
    (S.IN_REVIEW, A.REJECT): (STAFF, S.REJECTED),
    (S.IN_REVIEW, A.WITHDRAW): (frozenset({CITIZEN}), S.WITHDRAWN),
    (S.SUPPLEMENT_REQUESTED, A.SUPPLEMENT): (frozenset({CITIZEN}), S.SUPPLEMENTED),
    (S.SUPPLEMENT_REQUESTED, A.WITHDRAW): (frozenset({CITIZEN}), S.WITHDRAWN),
    (S.SUPPLEMENTED, A.START_REVIEW): (STAFF, S.IN_REVIEW),
    (S.SUPPLEMENTED, A.WITHDRAW): (frozenset({CITIZEN}), S.WITHDRAWN),
    (S.AWAITING_APPROVAL, A.APPROVE): (frozenset({LEADER}), S.APPROVED),
    (S.AWAITING_APPROVAL, A.REJECT): (frozenset({LEADER}), S.REJECTED),
    (S.AWAITING_APPROVAL, A.WITHDRAW): (frozenset({CITIZEN}), S.WITHDRAWN),
    (S.APPROVED, A.RETURN_RESULT): (STAFF, S.RESULT_RETURNED),
    (S.REJECTED, A.RETURN_RESULT): (STAFF, S.RESULT_RETURNED),
}

# Extending a complaint's or denunciation's time limit keeps the status as it is.
EXTEND_ROWS: Table = {
    (S.RECEIVED, A.EXTEND_DEADLINE): (STAFF, S.RECEIVED),
    (S.IN_REVIEW, A.EXTEND_DEADLINE): (STAFF, S.IN_REVIEW),
    (S.SUPPLEMENT_REQUESTED, A.EXTEND_DEADLINE): (STAFF, S.SUPPLEMENT_REQUESTED),
    (S.SUPPLEMENTED, A.EXTEND_DEADLINE): (STAFF, S.SUPPLEMENTED),
}
EXTEND_AWAITING_ROW: Table = {
    (S.AWAITING_APPROVAL, A.EXTEND_DEADLINE): (STAFF, S.AWAITING_APPROVAL),
}

# Procedures and petitions: the responsible unit's officer drafts the apology slip while
# the clock runs (signing needs a draft, so it is not in the tables; see below).
APOLOGY_ROWS: Table = {
    (S.RECEIVED, A.PROPOSE_APOLOGY): (STAFF, S.RECEIVED),
    (S.IN_REVIEW, A.PROPOSE_APOLOGY): (STAFF, S.IN_REVIEW),
    (S.SUPPLEMENTED, A.PROPOSE_APOLOGY): (STAFF, S.SUPPLEMENTED),
}
APOLOGY_AWAITING_ROW: Table = {
    (S.AWAITING_APPROVAL, A.PROPOSE_APOLOGY): (STAFF, S.AWAITING_APPROVAL),
}

# A complete complaint or denunciation waits for acceptance (thụ lý) after the automatic
# check, an incomplete one once supplemented; it is reviewed only once accepted (Law on
# Complaints 2011, Art. 27; Law on Denunciation 2018, Art. 29). The tables are for a
# case not accepted yet; `test_review_follows_acceptance` covers the accepted one.
ACCEPTANCE_TABLE: Table = {
    k: v
    for k, v in PLAIN_TABLE.items()
    if k not in {(S.SUBMITTED, A.RECEIVE), (S.SUPPLEMENTED, A.START_REVIEW)}
} | {
    (S.SUBMITTED, A.RECEIVE): (frozenset({SYSTEM}), S.AWAITING_ACCEPTANCE),
    (S.AWAITING_ACCEPTANCE, A.ACCEPT): (STAFF, S.IN_REVIEW),
    (S.AWAITING_ACCEPTANCE, A.DECLINE): (STAFF, S.REJECTED),
    (S.AWAITING_ACCEPTANCE, A.WITHDRAW): (frozenset({CITIZEN}), S.WITHDRAWN),
    (S.SUPPLEMENTED, A.ACCEPT): (STAFF, S.IN_REVIEW),
    (S.SUPPLEMENTED, A.DECLINE): (STAFF, S.REJECTED),
}


def _policy(
    *,
    extra_approval: bool = False,
    kind: str = "procedure",
    clock: str = "working_days",
    processing_days: int = 10,
    extended: int | None = None,
    **more: Any,
) -> WorkflowPolicy:
    return WorkflowPolicy(
        extra_approval=extra_approval,
        clock=clock,
        processing_days=processing_days,
        extended_processing_days=extended,
        kind=kind,
        **more,
    )


POLICIES: dict[str, tuple[WorkflowPolicy, Table]] = {
    "procedure": (_policy(), PLAIN_TABLE | APOLOGY_ROWS),
    "procedure_with_approval": (
        _policy(extra_approval=True),
        APPROVAL_TABLE | APOLOGY_ROWS | APOLOGY_AWAITING_ROW,
    ),
    # Petitions may carry an extended figure in the catalogue, yet only complaints and
    # denunciations may actually be extended.
    "petition_with_extension_figure": (
        _policy(kind="petition", processing_days=15, extended=30),
        PLAIN_TABLE | APOLOGY_ROWS,
    ),
    "complaint_without_extension_figure": (
        _policy(kind="complaint", clock="calendar_days", processing_days=30),
        PLAIN_TABLE,
    ),
    "complaint": (
        _policy(kind="complaint", clock="calendar_days", processing_days=30, extended=45),
        PLAIN_TABLE | EXTEND_ROWS,
    ),
    "denunciation_with_approval": (
        _policy(
            extra_approval=True,
            kind="denunciation",
            clock="calendar_days",
            processing_days=30,
            extended=60,
        ),
        APPROVAL_TABLE | EXTEND_ROWS | EXTEND_AWAITING_ROW,
    ),
    "complaint_with_acceptance": (
        _policy(
            kind="complaint",
            clock="calendar_days",
            processing_days=30,
            extended=45,
            acceptance_days=10,
            acceptance_clock="calendar_days",
            remote_area_processing_days=45,
            remote_area_extended_processing_days=60,
        ),
        ACCEPTANCE_TABLE,
    ),
    "denunciation_with_acceptance": (
        _policy(
            kind="denunciation",
            clock="calendar_days",
            processing_days=30,
            extended=90,
            acceptance_days=7,
            extension_days=30,
            max_extensions=2,
        ),
        ACCEPTANCE_TABLE,
    ),
}

CROSS_PRODUCT = [
    pytest.param(name, status, action, role, id=f"{name}-{status}-{action}-{role}")
    for name in POLICIES
    for status, action, role in itertools.product(DossierStatus, Action, ActorRole)
]


def test_cross_product_is_complete() -> None:
    assert len(CROSS_PRODUCT) == len(POLICIES) * 11 * 14 * 4


@pytest.mark.parametrize(("policy_name", "status", "action", "role"), CROSS_PRODUCT)
def test_every_status_action_role_combination(
    policy_name: str, status: DossierStatus, action: Action, role: ActorRole
) -> None:
    policy, table = POLICIES[policy_name]
    row = table.get((status, action))
    if row is not None and role in row[0]:
        assert apply(status, action, role, policy, FULL_PARAMS) is row[1]
        return
    # The action exists in this status for someone else: the role is what is wrong.
    expected = RoleNotPermitted if row is not None else TransitionNotAllowed
    with pytest.raises(expected) as caught:
        apply(status, action, role, policy, FULL_PARAMS)
    assert caught.value.action is action
    if expected is RoleNotPermitted:
        assert caught.value.role is role
    else:
        assert caught.value.status is status


@pytest.mark.parametrize("policy_name", list(POLICIES))
def test_allowed_actions_match_table(policy_name: str) -> None:
    policy, table = POLICIES[policy_name]
    for status, role in itertools.product(DossierStatus, ActorRole):
        expected = [a for a in Action if (status, a) in table and role in table[(status, a)][0]]
        assert allowed_actions(status, role, policy) == expected, (status, role)


@pytest.mark.parametrize("policy_name", list(POLICIES))
def test_transitions_cover_exactly_the_table(policy_name: str) -> None:
    policy, table = POLICIES[policy_name]
    derived: set[tuple[DossierStatus, Action, ActorRole]] = set()
    for transition in transitions_for(policy):
        for status, role in itertools.product(transition.from_states, transition.roles):
            derived.add((status, transition.action, role))
    expected = {
        (status, action, role) for (status, action), (roles, _) in table.items() for role in roles
    }
    # Signing the apology slip: wherever it may be drafted, once a draft exists.
    expected |= {
        (status, A.SIGN_APOLOGY, LEADER) for (status, a) in table if a is A.PROPOSE_APOLOGY
    }
    # Reviewing a supplemented complaint or denunciation, once it has been accepted.
    # and extending its deadline.
    if policy.needs_acceptance:
        expected |= {(S.SUPPLEMENTED, A.START_REVIEW, role) for role in STAFF}
        expected |= {(status, a, role) for (status, a) in EXTEND_ROWS for role in STAFF}
    assert derived == expected


def test_transition_not_allowed_lists_what_the_role_may_do() -> None:
    policy = _policy()
    with pytest.raises(TransitionNotAllowed) as caught:
        apply(S.RECEIVED, A.APPROVE, OFFICER, policy, FULL_PARAMS)
    assert caught.value.allowed == [A.REQUEST_SUPPLEMENT, A.START_REVIEW, A.PROPOSE_APOLOGY]


def test_awaiting_approval_does_not_exist_without_extra_approval() -> None:
    policy = _policy()
    reachable = {t.to_state for t in transitions_for(policy)}
    sources = set().union(*(t.from_states for t in transitions_for(policy)))
    assert S.AWAITING_APPROVAL not in reachable | sources
    assert all(a is not A.FORWARD_FOR_APPROVAL for a in (t.action for t in transitions_for(policy)))


def test_nothing_leaves_a_terminal_status() -> None:
    assert frozenset({S.RESULT_RETURNED, S.WITHDRAWN}) == TERMINAL_STATUSES
    assert is_terminal(S.WITHDRAWN)
    assert not is_terminal(S.REJECTED)
    for name, (policy, _) in POLICIES.items():
        for transition in transitions_for(policy):
            assert not transition.from_states & TERMINAL_STATUSES, (name, transition)


# --- required parameters -------------------------------------------------------------

REQUIRED_CASES = [
    pytest.param(
        "procedure",
        S.SUBMITTED,
        A.REQUEST_SUPPLEMENT,
        SYSTEM,
        ["missing_documents", "reason"],
        id="system-supplement-request",
    ),
    pytest.param(
        "procedure",
        S.RECEIVED,
        A.REQUEST_SUPPLEMENT,
        OFFICER,
        ["reason"],
        id="officer-supplement-request",
    ),
    pytest.param(
        "procedure",
        S.IN_REVIEW,
        A.REQUEST_SUPPLEMENT,
        LEADER,
        ["reason"],
        id="leader-supplement-request",
    ),
    pytest.param("procedure", S.IN_REVIEW, A.APPROVE, OFFICER, ["result_reference"], id="approve"),
    pytest.param(
        "procedure_with_approval",
        S.AWAITING_APPROVAL,
        A.APPROVE,
        LEADER,
        ["result_reference"],
        id="leader-approve",
    ),
    pytest.param("procedure", S.IN_REVIEW, A.REJECT, OFFICER, ["reason"], id="reject"),
    pytest.param(
        "procedure_with_approval",
        S.AWAITING_APPROVAL,
        A.REJECT,
        LEADER,
        ["reason"],
        id="leader-reject",
    ),
    pytest.param("complaint", S.IN_REVIEW, A.EXTEND_DEADLINE, OFFICER, ["reason"], id="extend"),
    pytest.param(
        "complaint_with_acceptance",
        S.AWAITING_ACCEPTANCE,
        A.DECLINE,
        OFFICER,
        ["reason"],
        id="decline-law-on-complaints-art-27",
    ),
    pytest.param(
        "complaint", S.IN_REVIEW, A.APPROVE, OFFICER, ["decision"], id="complaint-decision"
    ),
    pytest.param(
        "denunciation_with_acceptance",
        S.IN_REVIEW,
        A.REJECT,
        LEADER,
        ["decision", "reason"],
        id="denunciation-conclusion",
    ),
    pytest.param(
        "procedure",
        S.IN_REVIEW,
        A.PROPOSE_APOLOGY,
        OFFICER,
        ["apology_text", "new_due_date"],
        id="apology-slip-decree-61-art-19",
    ),
]


@pytest.mark.parametrize(("policy_name", "status", "action", "role", "required"), REQUIRED_CASES)
def test_missing_parameters_are_reported(
    policy_name: str,
    status: DossierStatus,
    action: Action,
    role: ActorRole,
    required: list[str],
) -> None:
    policy, _ = POLICIES[policy_name]
    with pytest.raises(MissingParameter) as caught:
        apply(status, action, role, policy, {})
    assert caught.value.action is action
    assert caught.value.missing == required

    for name in required:
        for blank in (None, "", "   ", []):
            params = FULL_PARAMS | {name: blank}
            with pytest.raises(MissingParameter) as caught:
                apply(status, action, role, policy, params)
            assert caught.value.missing == [name]


def test_officer_supplement_request_needs_no_document_list() -> None:
    result = apply(S.IN_REVIEW, A.REQUEST_SUPPLEMENT, OFFICER, _policy(), {"reason": "Bản vẽ mờ"})
    assert result is S.SUPPLEMENT_REQUESTED


@pytest.mark.parametrize(
    ("status", "action", "role"),
    [
        (S.SUBMITTED, A.RECEIVE, SYSTEM),
        (S.SUPPLEMENT_REQUESTED, A.SUPPLEMENT, CITIZEN),
        (S.RECEIVED, A.START_REVIEW, OFFICER),
        (S.APPROVED, A.RETURN_RESULT, OFFICER),
        (S.IN_REVIEW, A.WITHDRAW, CITIZEN),
    ],
)
def test_actions_without_requirements_accept_an_empty_command(
    status: DossierStatus, action: Action, role: ActorRole
) -> None:
    apply(status, action, role, _policy(), {})


def test_withdrawal_reason_is_optional_but_accepted() -> None:
    policy = _policy()
    assert apply(S.RECEIVED, A.WITHDRAW, CITIZEN, policy, {"reason": "Đổi ý"}) is S.WITHDRAWN


def test_role_is_checked_before_parameters() -> None:
    with pytest.raises(RoleNotPermitted):
        apply(S.IN_REVIEW, A.APPROVE, CITIZEN, _policy(), {})


def test_status_is_checked_before_role() -> None:
    with pytest.raises(TransitionNotAllowed):
        apply(S.WITHDRAWN, A.APPROVE, CITIZEN, _policy(), {})


def test_officer_cannot_approve_when_a_leader_must_sign() -> None:
    policy = _policy(extra_approval=True)
    with pytest.raises(TransitionNotAllowed):
        apply(S.IN_REVIEW, A.APPROVE, LEADER, policy, FULL_PARAMS)
    with pytest.raises(RoleNotPermitted):
        apply(S.AWAITING_APPROVAL, A.APPROVE, OFFICER, policy, FULL_PARAMS)
    assert apply(S.AWAITING_APPROVAL, A.APPROVE, LEADER, policy, FULL_PARAMS) is S.APPROVED


# --- extending the deadline ----------------------------------------------------------


@pytest.mark.parametrize("policy_name", ["complaint", "denunciation_with_approval"])
def test_deadline_may_be_extended_only_once(policy_name: str) -> None:
    policy, _ = POLICIES[policy_name]
    params = {"reason": "Vụ việc phức tạp"}
    assert apply(S.IN_REVIEW, A.EXTEND_DEADLINE, OFFICER, policy, params) is S.IN_REVIEW
    assert A.EXTEND_DEADLINE in allowed_actions(S.IN_REVIEW, LEADER, policy)

    assert A.EXTEND_DEADLINE not in allowed_actions(
        S.IN_REVIEW, LEADER, policy, deadline_extended=True
    )
    for role in STAFF:
        with pytest.raises(TransitionNotAllowed) as caught:
            apply(S.IN_REVIEW, A.EXTEND_DEADLINE, role, policy, params, deadline_extended=True)
        assert A.EXTEND_DEADLINE not in caught.value.allowed


@pytest.mark.parametrize(
    "policy_name",
    [
        "procedure",
        "procedure_with_approval",
        "petition_with_extension_figure",
        "complaint_without_extension_figure",
    ],
)
def test_deadline_cannot_be_extended_outside_complaints_and_denunciations(
    policy_name: str,
) -> None:
    policy, _ = POLICIES[policy_name]
    assert not policy.can_extend_deadline
    with pytest.raises(TransitionNotAllowed):
        apply(S.IN_REVIEW, A.EXTEND_DEADLINE, LEADER, policy, {"reason": "x"})


def test_extension_does_not_interfere_with_other_actions() -> None:
    policy, _ = POLICIES["complaint"]
    after = apply(S.IN_REVIEW, A.REJECT, LEADER, policy, FULL_PARAMS, deadline_extended=True)
    assert after is S.REJECTED


# --- whole journeys ------------------------------------------------------------------


def _walk(policy: WorkflowPolicy, steps: list[tuple[Action, ActorRole]]) -> list[DossierStatus]:
    status = S.SUBMITTED
    seen = [status]
    extended = False
    for action, role in steps:
        status = apply(status, action, role, policy, FULL_PARAMS, deadline_extended=extended)
        extended = extended or action is A.EXTEND_DEADLINE
        seen.append(status)
    return seen


def test_journey_with_supplement_and_approval() -> None:
    seen = _walk(
        _policy(),
        [
            (A.REQUEST_SUPPLEMENT, SYSTEM),
            (A.SUPPLEMENT, CITIZEN),
            (A.START_REVIEW, OFFICER),
            (A.APPROVE, OFFICER),
            (A.RETURN_RESULT, OFFICER),
        ],
    )
    assert seen == [
        S.SUBMITTED,
        S.SUPPLEMENT_REQUESTED,
        S.SUPPLEMENTED,
        S.IN_REVIEW,
        S.APPROVED,
        S.RESULT_RETURNED,
    ]


def test_journey_of_a_complaint_rejected_by_the_leader_after_extension() -> None:
    policy, _ = POLICIES["denunciation_with_approval"]
    seen = _walk(
        policy,
        [
            (A.RECEIVE, SYSTEM),
            (A.START_REVIEW, OFFICER),
            (A.EXTEND_DEADLINE, LEADER),
            (A.FORWARD_FOR_APPROVAL, OFFICER),
            (A.REJECT, LEADER),
            (A.RETURN_RESULT, OFFICER),
        ],
    )
    assert seen[-3:] == [S.AWAITING_APPROVAL, S.REJECTED, S.RESULT_RETURNED]
    assert seen[3] is S.IN_REVIEW


# --- policy --------------------------------------------------------------------------


class _Kind(StrEnum):
    COMPLAINT = "complaint"


class _Clock(StrEnum):
    CALENDAR_DAYS = "calendar_days"


def test_policy_reads_a_catalogue_procedure() -> None:
    procedure = SimpleNamespace(
        code="KN-01",
        kind=_Kind.COMPLAINT,
        processing_days=30,
        clock=_Clock.CALENDAR_DAYS,
        extended_processing_days=45,
        extra_approval=True,
        required_documents=[],
        confidential_applicant=False,
    )
    policy = WorkflowPolicy.from_procedure(procedure)
    assert policy == _policy(
        extra_approval=True,
        kind="complaint",
        clock="calendar_days",
        processing_days=30,
        extended=45,
    )
    assert type(policy.kind) is str
    assert type(policy.clock) is str
    assert policy.can_extend_deadline


def test_policy_reads_the_catalogue_model() -> None:
    procedure = Procedure.model_validate(
        {
            "code": "TC-01",
            "name_vi": "Tố cáo",
            "name_en": "Denunciation",
            "kind": DossierKind.DENUNCIATION,
            "sector": "general",
            "agency": "STNMT",
            "online_level": "full",
            "processing_days": 30,
            "clock": Clock.CALENDAR_DAYS,
            "extended_processing_days": 90,
            "acceptance_days": 7,
            "acceptance_clock": Clock.WORKING_DAYS,
            "extension_days": 30,
            "max_extensions": 2,
            "extra_approval": True,
            "legal_basis": "Luật Tố cáo 2018",
            "required_documents": [],
            "form_schema": {"type": "object"},
            "confidential_applicant": True,
        }
    )
    policy = WorkflowPolicy.from_procedure(procedure)
    assert policy == _policy(
        extra_approval=True,
        kind="denunciation",
        clock="calendar_days",
        processing_days=30,
        extended=90,
        acceptance_days=7,
        acceptance_clock="working_days",
        extension_days=30,
        max_extensions=2,
    )
    assert policy.needs_acceptance
    assert policy.deadline_extensions == 2
    # Every kind and clock the catalogue can publish must make a valid policy.
    for kind, clock in itertools.product(DossierKind, Clock):
        _policy(kind=kind.value, clock=clock.value)


@pytest.mark.parametrize(
    "overrides",
    [
        {"clock": "lunar_days"},
        {"kind": "request"},
        {"processing_days": -1},
        {"processing_days": 30, "extended": 20},
    ],
)
def test_policy_rejects_nonsense(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each case fails for a different field
        _policy(**overrides)


# --- automatic intake check ----------------------------------------------------------


def test_check_required_documents() -> None:
    required = [("DON", True), ("CCCD", True), ("BAN_VE", False), ("GCN", True)]
    assert check_required_documents(required, ["DON", "GCN"]) == ["CCCD"]
    assert check_required_documents(required, []) == ["DON", "CCCD", "GCN"]
    assert check_required_documents(required, ["DON", "CCCD", "GCN", "EXTRA"]) == []
    assert check_required_documents([], ["DON"]) == []


def test_check_required_documents_accepts_iterators_and_duplicates() -> None:
    required = iter([("DON", True), ("DON", True), ("CCCD", True)])
    assert check_required_documents(required, iter(["CCCD"])) == ["DON"]


# --- issue 17: acceptance, extensions, supplement once, apology ----------------------


def test_denunciation_extends_twice_law_on_denunciation_art_30() -> None:
    """Law on Denunciation 2018, Art. 30: extended once for a complex case and twice for
    a particularly complex one; a third extension does not exist."""
    policy, _ = POLICIES["denunciation_with_acceptance"]
    params = {"reason": "Vụ việc phức tạp"}
    for used in (0, 1):
        progress = Progress(extensions=used, accepted=True)
        assert A.EXTEND_DEADLINE in allowed_actions(S.IN_REVIEW, OFFICER, policy, progress=progress)
        assert apply(S.IN_REVIEW, A.EXTEND_DEADLINE, OFFICER, policy, params, progress=progress)
    with pytest.raises(TransitionNotAllowed):
        apply(
            S.IN_REVIEW,
            A.EXTEND_DEADLINE,
            LEADER,
            policy,
            params,
            progress=Progress(2, accepted=True),
        )


def test_complaint_extends_once_law_on_complaints_art_28() -> None:
    """Law on Complaints 2011, Art. 28: one longer limit for a complex case."""
    policy, _ = POLICIES["complaint_with_acceptance"]
    assert policy.deadline_extensions == 1
    assert A.EXTEND_DEADLINE not in allowed_actions(
        S.IN_REVIEW, LEADER, policy, progress=Progress(extensions=1, accepted=True)
    )
    assert A.EXTEND_DEADLINE in allowed_actions(
        S.IN_REVIEW, LEADER, policy, progress=Progress(accepted=True)
    )


def test_no_acceptance_step_without_its_time_in_the_catalogue() -> None:
    """Law on Complaints 2011, Art. 27 gives the acceptance its time; without the figure
    the catalogue has not adopted the step and the dossier is received as before."""
    policy, _ = POLICIES["complaint"]
    assert not policy.needs_acceptance
    assert apply(S.SUBMITTED, A.RECEIVE, SYSTEM, policy, {}) is S.RECEIVED
    accepting, _ = POLICIES["complaint_with_acceptance"]
    assert apply(S.SUBMITTED, A.RECEIVE, SYSTEM, accepting, {}) is S.AWAITING_ACCEPTANCE


def test_a_second_supplement_request_is_offered_to_a_leader_only_decree_61_art_15() -> None:
    """Decree 61/2018, Art. 15: the applicant is asked once for everything missing."""
    policy = _policy()
    asked = Progress(supplement_requests=1)
    assert A.REQUEST_SUPPLEMENT not in allowed_actions(S.IN_REVIEW, OFFICER, policy, progress=asked)
    assert A.REQUEST_SUPPLEMENT in allowed_actions(S.IN_REVIEW, LEADER, policy, progress=asked)
    assert A.REQUEST_SUPPLEMENT in allowed_actions(S.IN_REVIEW, OFFICER, policy)


def test_apology_slip_is_signed_by_a_leader_once_drafted_decree_61_art_19() -> None:
    """Decree 61/2018, Art. 19: the slip with the new date is the unit's, signed off by
    its leader; there is nothing to sign before a draft exists."""
    policy = _policy()
    drafted = Progress(apology_proposed=True)
    assert A.SIGN_APOLOGY not in allowed_actions(S.IN_REVIEW, LEADER, policy)
    assert A.SIGN_APOLOGY in allowed_actions(S.IN_REVIEW, LEADER, policy, progress=drafted)
    assert A.SIGN_APOLOGY not in allowed_actions(S.IN_REVIEW, OFFICER, policy, progress=drafted)
    assert apply(S.IN_REVIEW, A.SIGN_APOLOGY, LEADER, policy, {}, progress=drafted) is S.IN_REVIEW
    with pytest.raises(RoleNotPermitted):
        apply(S.IN_REVIEW, A.SIGN_APOLOGY, OFFICER, policy, {}, progress=drafted)
    complaint, _ = POLICIES["complaint_with_acceptance"]
    with pytest.raises(TransitionNotAllowed):
        apply(S.IN_REVIEW, A.PROPOSE_APOLOGY, OFFICER, complaint, FULL_PARAMS)


def test_review_follows_acceptance_law_on_complaints_art_27() -> None:
    """Law on Complaints 2011, Art. 27: a case is settled only once accepted; accepting
    or declining is done once."""
    policy, _ = POLICIES["complaint_with_acceptance"]
    accepted = Progress(accepted=True)
    assert allowed_actions(S.SUPPLEMENTED, OFFICER, policy) == [A.ACCEPT, A.DECLINE]
    assert allowed_actions(S.SUPPLEMENTED, OFFICER, policy, progress=accepted) == [
        A.START_REVIEW,
        A.EXTEND_DEADLINE,
    ]
    with pytest.raises(TransitionNotAllowed):
        apply(S.SUPPLEMENTED, A.ACCEPT, OFFICER, policy, {}, progress=accepted)
    with pytest.raises(TransitionNotAllowed):
        apply(S.SUPPLEMENTED, A.START_REVIEW, OFFICER, policy, {})
