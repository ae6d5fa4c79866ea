"""The workbench against processing's workflow: every status and action has words in
both languages (officers' and citizens'), and each action's form asks for exactly what
processing requires, so that neither a missing field nor a needless `required` input
stops an officer."""

from __future__ import annotations

from datetime import date

import pytest

from chassis.events import DossierStatus
from processing.domain.workflow import (
    Action,
    ActorRole,
    WorkflowPolicy,
    transitions_for,
)
from workbench.domain import follow_up
from workbench.domain.i18n import TEXTS, Translator
from workbench.domain.views import (
    OPEN_STATUSES,
    ActionForm,
    action_forms,
    apology_view,
    decision_view,
    invalid_message,
)

VI = Translator("vi")
EN = Translator("en")
STAFF = frozenset({ActorRole.OFFICER, ActorRole.LEADER})


def _policy(kind: str, extra_approval: bool) -> WorkflowPolicy:
    """A policy of `kind` with every optional step switched on (acceptance, extension)."""
    cases = kind in ("complaint", "denunciation")
    return WorkflowPolicy(
        extra_approval=extra_approval,
        clock="working_days",
        processing_days=30,
        extended_processing_days=45 if cases else None,
        kind=kind,
        acceptance_days=10 if cases else None,
        extension_days=30 if kind == "denunciation" else None,
        max_extensions=2 if kind == "denunciation" else 0,
    )


POLICIES = [
    _policy(kind, extra)
    for kind in ("procedure", "petition", "complaint", "denunciation")
    for extra in (False, True)
]


def _asked(form: ActionForm) -> set[str]:
    """The fields the form makes the officer fill in, by processing's names."""
    asked = set()
    if form.reason_required:
        asked.add("reason")
    if form.result_reference:
        asked.add("result_reference")
    if form.decision_required:
        asked.add("decision")
    if form.apology:
        asked |= {"new_due_date", "apology_text"}
    return asked


def test_every_status_has_words_for_officers_and_citizens_in_both_languages() -> None:
    for status in DossierStatus:
        for key in (f"status.{status}", f"citizen.status.{status}"):
            assert key in TEXTS, key
            vi, en = TEXTS[key]
            assert vi.strip()
            assert en.strip()
            assert vi != key
    # Every status but the two that end a dossier can be filtered on in the queue.
    closed = {DossierStatus.RESULT_RETURNED.value, DossierStatus.WITHDRAWN.value}
    assert set(OPEN_STATUSES) | closed == {s.value for s in DossierStatus}
    # Where the citizen's timeline puts each status; a withdrawn dossier has no steps left.
    for status in DossierStatus:
        steps = follow_up.steps(status)
        assert bool(steps) == (status is not DossierStatus.WITHDRAWN), status
    assert [s.state for s in follow_up.steps("awaiting_acceptance")][:3] == [
        "done",
        "current",
        "upcoming",
    ]


def test_every_action_has_a_label_and_a_past_tense_in_both_languages() -> None:
    for action in Action:
        for key in (f"action.{action}", f"did.{action}"):
            assert key in TEXTS, key
        assert VI(f"action.{action}") != EN(f"action.{action}")


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: f"{p.kind}-{p.extra_approval}")
def test_each_action_form_asks_for_what_processing_requires(policy: WorkflowPolicy) -> None:
    staff_edges = [t for t in transitions_for(policy) if t.roles & STAFF]
    assert staff_edges
    for edge in staff_edges:
        [form] = action_forms([edge.action.value], VI, policy.kind)
        assert _asked(form) == set(edge.requires), (policy.kind, edge.action)
        # Whatever is required can also be typed in.
        if "reason" in edge.requires:
            assert form.reason


def test_the_acceptance_and_the_decision_forms_of_a_complaint() -> None:
    forms = {
        f.action: f
        for f in action_forms(["accept", "decline", "approve", "reject"], EN, "complaint")
    }
    assert forms["accept"].acceptance
    assert not forms["accept"].reason
    assert forms["decline"].reason_required
    assert forms["decline"].decision
    assert not forms["decline"].decision_required
    assert forms["approve"].decision_required
    assert not forms["approve"].result_reference
    [procedure] = action_forms(["approve"], EN, "procedure")
    assert procedure.result_reference
    assert not procedure.decision


def test_the_decision_and_the_apology_are_shown_in_local_dates() -> None:
    assert decision_view(None) is None
    assert decision_view(
        {"number": "125/QĐ-STNMT", "issued_on": "2026-12-01", "summary": "Giữ nguyên"}
    ) == {"number": "125/QĐ-STNMT", "issued_on": "01/12/2026", "summary": "Giữ nguyên"}
    assert apology_view({"new_due_date": date(2026, 12, 24), "text": "Xin lỗi"}) == {
        "new_due_date": "24/12/2026",
        "text": "Xin lỗi",
    }


def test_a_decision_field_error_names_the_field() -> None:
    problem = {
        "errors": [
            {"pointer": "/decision/summary", "detail": "Field required"},
            {"pointer": "/missing_items/1", "detail": "too short"},
        ]
    }
    assert invalid_message(problem, EN) == (
        "Nothing was done. Please fill in: Summary, Anything else missing (one item a line)."
    )


def test_the_citizen_reads_the_documents_and_the_other_items_asked_for() -> None:
    status = {
        "missing_documents": ["eia_report", "site_plan"],
        "missing_items": ["Bản vẽ mặt bằng có chữ ký", "  "],
    }
    assert follow_up.asked_for(status, {"eia_report": "Báo cáo ĐTM"}) == [
        "Báo cáo ĐTM",
        "site_plan",
        "Bản vẽ mặt bằng có chữ ký",
    ]
    assert follow_up.asked_for({"missing_documents": []}, {}) == []
