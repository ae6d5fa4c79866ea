"""Wording of issue 17's steps: a complaint or denunciation awaiting acceptance (thụ lý),
one declined, and a supplement request listing items in the officer's own words."""

from __future__ import annotations

from typing import Any

import pytest

from chassis.events import EventType
from notification.domain.messages import TemplateCatalogue, sample_data

STATUS_CHANGED = EventType.STATUS_CHANGED.value


@pytest.fixture(scope="module")
def catalogue() -> TemplateCatalogue:
    return TemplateCatalogue(lookup_url="https://dichvucong.tnmt.example/tra-cuu")


def _data(new_status: str, **overrides: Any) -> dict[str, Any]:
    return sample_data(STATUS_CHANGED, new_status) | overrides


@pytest.mark.parametrize(
    ("language", "words"),
    [("vi", "xem xét để thụ lý"), ("en", "considering whether to accept")],
)
def test_awaiting_acceptance_names_the_day_acceptance_is_decided_by(
    catalogue: TemplateCatalogue, language: str, words: str
) -> None:
    data = _data("awaiting_acceptance", action="receive", due_date="2026-03-12")
    email = catalogue.render_email(STATUS_CHANGED, data, language)
    assert words in email.text
    assert "12/03/2026" in email.text
    assert "12/03/2026" in catalogue.render_sms(STATUS_CHANGED, data, language).text


@pytest.mark.parametrize(
    ("language", "declined", "rejected"),
    [
        ("vi", "không thụ lý", "từ chối giải quyết"),
        ("en", "not been accepted for settlement", "has been rejected"),
    ],
)
def test_a_declined_complaint_reads_otherwise_than_a_rejected_dossier(
    catalogue: TemplateCatalogue, language: str, declined: str, rejected: str
) -> None:
    decline = catalogue.render_email(
        STATUS_CHANGED, _data("rejected", action="decline", reason="Quá thời hiệu"), language
    )
    reject = catalogue.render_email(
        STATUS_CHANGED, _data("rejected", action="reject", reason="Không đủ điều kiện"), language
    )
    assert declined in decline.text
    assert rejected not in decline.text
    assert rejected in reject.text
    assert declined not in reject.text


def test_a_supplement_request_lists_the_officers_items_with_the_documents(
    catalogue: TemplateCatalogue,
) -> None:
    data = _data(
        "supplement_requested",
        missing_documents=["business_registration"],
        missing_items=["Sơ đồ vị trí kho chứa chất thải"],
    )
    text = catalogue.render_email(STATUS_CHANGED, data, "vi").text
    assert "- business_registration" in text
    assert "- Sơ đồ vị trí kho chứa chất thải" in text
    assert "So do vi tri kho" in catalogue.render_sms(STATUS_CHANGED, data, "vi").text
