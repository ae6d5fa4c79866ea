"""The auditors' pages in-process over a fake audit: the search's filters passed on,
a dossier's trail with what changed, verification, exports and a document's check
streamed, and the role required."""

from __future__ import annotations

import httpx
import pytest

from tests.unit.workbench.workbench_fakes import Bench, as_json, bench, problem

CSRF = "csrf-token-of-the-session"
DOSSIER = "0b6f1c3e-8d2a-4f5e-9a71-3c2d1e0f4a5b"
ENTRY = {
    "seq": 42,
    "event_id": "e-42",
    "event_type": "dossier.status-changed.v1",
    "dossier_id": DOSSIER,
    "actor": "officer:o-1",
    "occurred_at": "2026-12-07T01:30:00Z",
    "recorded_at": "2026-12-07T01:30:01Z",
    "changes": [{"field": "status", "old": "received", "new": "supplement_requested"}],
    "payload": {},
    "prev_hash": "p",
    "entry_hash": "h",
}


@pytest.fixture
def auditor() -> Bench:
    b = bench()
    b.sign_in("auditor")
    return b


def test_the_search_passes_its_filters_on_and_pages_by_cursor(auditor: Bench) -> None:
    auditor.audit.on(
        "GET",
        "/v1/audit/entries",
        lambda r: httpx.Response(200, json={"entries": [ENTRY], "next_cursor": "WyJlIiw0Ml0"}),
    )
    page = auditor.client.get(
        "/audit",
        params={
            "dossier_id": DOSSIER,
            "event_type": "dossier.status-changed.v1",
            "from": "2026-12-07",
        },
    )
    assert page.status_code == 200
    query = auditor.audit.seen[-1].url.params
    assert query["dossier_id"] == DOSSIER
    assert query["event_type"] == "dossier.status-changed.v1"
    assert query["from"] == "2026-12-07T00:00:00+07:00"
    assert auditor.audit.seen[-1].headers["Authorization"] == "Bearer token-auditor"
    assert "supplement_requested" in page.text
    assert "cursor=WyJlIiw0Ml0" in page.text
    assert f'href="/audit/dossiers/{DOSSIER}"' in page.text


def test_a_dossiers_trail_shows_what_changed(auditor: Bench) -> None:
    auditor.audit.on(
        "GET",
        f"/v1/audit/dossiers/{DOSSIER}",
        lambda r: httpx.Response(
            200, json={"dossier_id": DOSSIER, "entries": [ENTRY], "next_cursor": None}
        ),
    )
    page = auditor.client.get(f"/audit/dossiers/{DOSSIER}")
    assert page.status_code == 200
    assert '<span class="old">received</span>' in page.text
    assert '<span class="new">supplement_requested</span>' in page.text
    auditor.audit.on(
        "GET",
        "/v1/audit/dossiers/unknown",
        lambda r: httpx.Response(
            200, json={"dossier_id": "unknown", "entries": [], "next_cursor": None}
        ),
    )
    assert auditor.client.get("/audit/dossiers/unknown").status_code == 404


def test_verification_runs_on_the_range_asked_and_says_it_passed(auditor: Bench) -> None:
    auditor.audit.on(
        "POST",
        "/v1/audit/verify",
        lambda r: httpx.Response(
            200,
            json={
                "ok": True,
                "from_seq": 1,
                "to_seq": 42,
                "trusted_size": 0,
                "entries_checked": 42,
                "checkpoints_checked": 1,
                "tree_size": 42,
                "root_hash": "ab" * 32,
                "last_entry_hash": "cd" * 32,
                "checkpointed_size": 42,
                "first_failure": None,
            },
        ),
    )
    page = auditor.client.post(
        "/audit/verify", data={"csrf_token": CSRF, "from_seq": "", "to_seq": "42"}
    )
    assert page.status_code == 200
    assert 'data-ok="true"' in page.text
    assert as_json(auditor.audit.seen[-1]) == {"to_seq": 42}
    wrong = auditor.client.post(
        "/audit/verify", data={"csrf_token": CSRF, "from_seq": "9", "to_seq": "2"}
    )
    assert wrong.status_code == 422
    assert len(auditor.audit.seen) == 1
    forged = auditor.client.post("/audit/verify", data={"csrf_token": "forged"})
    assert forged.status_code == 403


def test_exports_and_the_key_are_passed_on_as_audit_streams_them(auditor: Bench) -> None:
    lines = b"".join(b'{"seq":%d}\n' % i for i in range(1, 2000))
    auditor.audit.on(
        "GET",
        "/v1/audit/entries.ndjson",
        lambda r: httpx.Response(
            200, content=lines, headers={"Content-Type": "application/x-ndjson"}
        ),
    )
    auditor.audit.on(
        "GET",
        "/v1/audit/public-key.pem",
        lambda r: httpx.Response(
            200,
            content=b"-----BEGIN PUBLIC KEY-----\n",
            headers={"Content-Type": "application/x-pem-file"},
        ),
    )
    export = auditor.client.get("/audit/export.ndjson", params={"actor": "officer:o-1"})
    assert export.status_code == 200
    assert export.content == lines
    assert export.headers["Content-Disposition"] == 'attachment; filename="audit-entries.ndjson"'
    assert auditor.audit.seen[-1].url.params["actor"] == "officer:o-1"
    key = auditor.client.get("/audit/public-key.pem")
    assert key.content.startswith(b"-----BEGIN PUBLIC KEY-----")
    assert auditor.client.get("/audit/export.xml").status_code == 404


def test_a_document_is_streamed_to_audit_and_its_verdict_shown(auditor: Bench) -> None:
    verdict = {
        "sha256": "ab" * 32,
        "size": 10,
        "signature": {
            "valid": True,
            "trusted": True,
            "signer": "CN=So",
            "signed_at": None,
            "problem": None,
        },
        "issued": True,
        "proof_status": "proven",
        "entry": {
            "seq": 5,
            "type": "dossier.result-issued.v1",
            "time": "2026-12-07T01:00:00Z",
            "receipt_code": "MT-1",
            "decision_number": "12/QĐ",
        },
        "inclusion_proof": None,
        "checkpoint": None,
    }
    auditor.audit.on("POST", "/v1/documents/verify", lambda r: httpx.Response(200, json=verdict))
    pdf = b"%PDF-1.7 issued"
    page = auditor.client.post(
        "/audit/documents",
        data={"csrf_token": CSRF},
        files={"document": ("kq.pdf", pdf, "application/pdf")},
    )
    assert page.status_code == 200
    assert 'data-genuine="true"' in page.text
    sent = auditor.audit.seen[-1]
    assert sent.headers["Content-Type"] == "application/pdf"
    assert auditor.audit.bodies[-1] == pdf
    # Not a PDF: audit's 422 becomes words beside the input.
    auditor.audit.on(
        "POST", "/v1/documents/verify", lambda r: problem(422, "not-a-pdf", "not a PDF")
    )
    refused = auditor.client.post(
        "/audit/documents",
        data={"csrf_token": CSRF},
        files={"document": ("a.txt", b"hello", "text/plain")},
    )
    assert refused.status_code == 422
    assert 'id="document-error"' in refused.text


def test_the_pages_are_for_auditors_only(auditor: Bench) -> None:
    auditor.sign_in("officer", agency="STNMT-MT")
    for path in ("/audit", "/audit/verify", "/audit/documents", "/audit/public-key.pem"):
        assert auditor.client.get(path).status_code == 403, path
    assert auditor.audit.seen == []
