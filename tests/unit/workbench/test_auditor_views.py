"""What the auditors' pages make of audit's answers: the search's filters, the entries
with what changed, the verification's and a document's verdicts."""

from __future__ import annotations

from workbench.domain import audit_views
from workbench.domain.i18n import Translator

T = Translator("en")


def test_the_search_keeps_only_filters_audit_accepts_and_days_are_vietnams() -> None:
    search = audit_views.read_search(
        " 0b6f1c3e-8d2a ", "officer:abc", "not an event", "2026-12-01", "2026-12-03", "WyJ4Il0"
    )
    assert search.query() == {
        "dossier_id": "0b6f1c3e-8d2a",
        "actor": "officer:abc",
        "from": "2026-12-01T00:00:00+07:00",
        # "to" is exclusive at audit: the day after the last one asked for.
        "to": "2026-12-04T00:00:00+07:00",
    }
    assert search.cursor == "WyJ4Il0"
    assert search.page_params() == [
        ("dossier_id", "0b6f1c3e-8d2a"),
        ("actor", "officer:abc"),
        ("from", "2026-12-01"),
        ("to", "2026-12-03"),
    ]


def test_a_reversed_or_impossible_period_keeps_what_makes_sense() -> None:
    reversed_period = audit_views.read_search(None, None, None, "2026-12-05", "2026-12-01", None)
    assert reversed_period.query() == {"from": "2026-12-05T00:00:00+07:00"}
    impossible = audit_views.read_search(None, "Officer", None, "2026-02-30", "x", "bad cursor!")
    assert impossible.query() == {}
    assert impossible.cursor is None


def test_entries_show_what_changed_cut_when_long() -> None:
    (row,) = audit_views.entry_rows(
        [
            {
                "seq": 42,
                "event_id": "e",
                "event_type": "dossier.status-changed.v1",
                "dossier_id": "d",
                "actor": "officer:a",
                "occurred_at": "2026-12-01T01:30:00Z",
                "recorded_at": "2026-12-01T01:30:01Z",
                "changes": [
                    {"field": "status", "old": "received", "new": "in_review"},
                    {"field": "missing_documents", "old": None, "new": ["a", "b"]},
                    {"field": "reason", "old": None, "new": "x" * 500},
                ],
                "prev_hash": "p",
                "entry_hash": "h",
            }
        ],
        T,
    )
    assert row.at == "01/12/2026 08:30"
    assert row.event_label == "Status changed"
    assert [(c.field, c.old, c.new) for c in row.changes[:2]] == [
        ("status", "received", "in_review"),
        ("missing_documents", "—", '["a", "b"]'),
    ]
    assert len(row.changes[2].new) == audit_views.VALUE_CHARS
    assert row.changes[2].new.endswith("…")


def test_sequence_numbers_typed_in_are_positive_whole_numbers() -> None:
    assert audit_views.read_seq(" 12 ") == 12
    assert audit_views.read_seq("") is None
    for wrong in ("0", "-1", "1.5", "١٢"):
        try:
            audit_views.read_seq(wrong)
        except ValueError:
            continue
        raise AssertionError(wrong)


def test_the_verification_says_where_it_first_failed() -> None:
    passed = audit_views.verification({"ok": True, "from_seq": 1, "to_seq": 9}, T)
    assert passed.ok
    assert passed.failure is None
    assert passed.headline == "The log is intact: every check passed."
    failed = audit_views.verification(
        {"ok": False, "first_failure": {"seq": 7, "reason": "entry_hash", "detail": "differs"}}, T
    )
    assert not failed.ok
    assert failed.failure == "First difference at entry 7: entry_hash — differs"


def test_a_document_is_genuine_only_issued_valid_and_trusted() -> None:
    verdict = {
        "sha256": "ab" * 32,
        "signature": {"valid": True, "trusted": True, "signer": "CN=So", "signed_at": None},
        "issued": True,
        "proof_status": "proven",
        "entry": {"seq": 5, "receipt_code": "MT-1", "decision_number": "12/QĐ"},
    }
    genuine = audit_views.document_verdict(verdict, T)
    assert genuine.genuine
    assert ("Proof", "Proven up to a signed checkpoint") in genuine.facts
    assert ("Decision number", "12/QĐ") in genuine.facts
    untrusted = audit_views.document_verdict(
        verdict | {"signature": {"valid": True, "trusted": False, "problem": "unknown CA"}}, T
    )
    assert not untrusted.genuine
    assert untrusted.headline.startswith("The document was issued but")
    changed = audit_views.document_verdict(
        {
            "sha256": "cd" * 32,
            "signature": {"valid": False},
            "issued": False,
            "proof_status": "not_issued",
            "entry": None,
        },
        T,
    )
    assert changed.headline == "No document with these exact contents was issued."
