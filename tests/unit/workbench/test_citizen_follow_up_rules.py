"""The citizens' pages' own rules: the opening form read back, the double-submit CSRF
token, the steps shown for a status, the result document found in intake's answer."""

from __future__ import annotations

from workbench.domain import follow_up


def test_a_receipt_code_is_read_as_typed_in_capitals_without_spaces() -> None:
    assert follow_up.receipt_code(" mt-261126-xvqkyc ") == "MT-261126-XVQKYC"
    assert follow_up.receipt_code("MT 261126 XVQKYC") == "MT261126XVQKYC"
    assert follow_up.receipt_code("MT/261126") is None
    assert follow_up.receipt_code("") is None


def test_the_secret_wins_over_the_phone_and_one_of_them_is_needed() -> None:
    asked = follow_up.read_opening("mt-261126-xvqkyc", "K7QD-4XPM", "0912345678")
    assert asked.follow_up == follow_up.FollowUp("MT-261126-XVQKYC", "K7QD-4XPM", None)
    by_phone = follow_up.read_opening("MT-261126-XVQKYC", "", "0912 345 678")
    assert by_phone.follow_up == follow_up.FollowUp("MT-261126-XVQKYC", None, "0912 345 678")
    neither = follow_up.read_opening("MT-261126-XVQKYC", " ", "")
    assert neither.follow_up is None
    assert neither.errors == {"secret": "citizen.error.second_factor"}
    wrong = follow_up.read_opening("??", "bad secret!", "")
    assert wrong.errors == {
        "receipt_code": "citizen.error.receipt_code",
        "secret": "citizen.error.secret",
    }


def test_the_opened_dossier_survives_its_cookie_and_needs_a_second_factor() -> None:
    opened = follow_up.FollowUp("MT-261126-XVQKYC", None, "0912345678")
    assert follow_up.FollowUp.from_record(opened.to_record()) == opened
    assert follow_up.FollowUp.from_record({"r": "MT-261126-XVQKYC"}) is None
    assert follow_up.FollowUp.from_record({"s": "x"}) is None


def test_the_double_submitted_token_must_be_the_cookies() -> None:
    token = follow_up.fresh_csrf()
    assert follow_up.csrf_accepts(token, token)
    assert not follow_up.csrf_accepts(token, follow_up.fresh_csrf())
    assert not follow_up.csrf_accepts(None, token)
    assert not follow_up.csrf_accepts("", "")


def test_the_steps_show_how_far_the_dossier_has_come() -> None:
    states = [(s.key, s.state) for s in follow_up.steps("supplement_requested")]
    assert states == [
        ("submitted", "done"),
        ("received", "done"),
        ("in_review", "current"),
        ("decided", "upcoming"),
        ("result_returned", "upcoming"),
    ]
    assert [s.state for s in follow_up.steps("result_returned")] == ["done"] * 5
    assert follow_up.steps("withdrawn") == []
    assert follow_up.steps("rejected")[3].state == "current"


def test_the_result_document_is_the_one_intakes_status_names() -> None:
    assert follow_up.result_document({"status": "approved"}) is None
    assert follow_up.result_document({"result_document": {"document_id": "d1"}}) == "d1"
    assert follow_up.result_document({"result_document": None}) is None
