"""Verifying issued documents: the signature verdict (pyHanko with the local test PKI), the
use case against the in-memory log, the offline proof check and the command line."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from reportlab.pdfgen import canvas

from audit.adapters.signatures import PdfSignatureChecker, load_trust_roots
from audit.cli import main
from audit.domain.checkpoint import Checkpoint, public_key_to_pem
from audit.domain.documents import (
    ISSUE_EVENT_TYPE,
    ProofStatus,
    SignatureVerdict,
    check_issue_proof,
    issue_record,
    looks_like_pdf,
)
from audit.domain.personal_data import PersonalDataCipher
from audit.service.checkpointing import make_checkpoint
from audit.service.documents import DocumentVerdict, DocumentVerifier
from audit.service.recording import EventRecorder, IncomingEvent
from audit.service.verification import LogMismatch
from chassis.events import (
    DossierDocumentRead,
    DossierResultIssued,
    DossierStatusChanged,
    Envelope,
    make_event,
)
from deploy.launcher.pki import TestPki, ensure_test_pki, sign_pdf
from tests.unit.audit.fakes import FakeAuditLog

KEY = Ed25519PrivateKey.generate()
START = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def sample_pdf(text: str = "Quyết định cấp giấy phép môi trường số 123/QĐ-STNMT") -> bytes:
    buffer = io.BytesIO()
    page = canvas.Canvas(buffer)
    page.drawString(72, 760, text.encode("ascii", "replace").decode())
    page.save()
    return buffer.getvalue()


def flipped(data: bytes, at: int) -> bytes:
    changed = bytearray(data)
    changed[at] ^= 0x01
    return bytes(changed)


def content_offset(data: bytes) -> int:
    """A byte inside the first page's content stream: part of what the signature covers."""
    return data.index(b"stream\n") + len(b"stream\n") + 3


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    return ensure_test_pki(tmp_path_factory.mktemp("local"))


@pytest.fixture(scope="module")
def signed(pki: TestPki) -> bytes:
    return sign_pdf(pki, sample_pdf())


@pytest.fixture(scope="module")
def checker(pki: TestPki) -> PdfSignatureChecker:
    return PdfSignatureChecker(load_trust_roots(pki.ca_pem))


# ---------------------------------------------------------------------------- the test PKI


def test_test_pki_is_made_once_and_kept_private(tmp_path: Path) -> None:
    first = ensure_test_pki(tmp_path)
    again = ensure_test_pki(tmp_path)
    assert again == first
    for path in (first.ca_pem, first.pkcs12_path, first.password_path, tmp_path / "pki/ca.key"):
        assert path.stat().st_mode & 0o777 == 0o600, path
    assert first.password_path.read_text() == first.password
    assert len(first.password) >= 24


# ---------------------------------------------------------------------------- signatures


def test_a_signed_original_is_valid_trusted_and_names_its_signer(
    checker: PdfSignatureChecker, signed: bytes
) -> None:
    verdict = checker.check(io.BytesIO(signed))
    assert verdict.valid, verdict.problem
    assert verdict.trusted, verdict.problem
    assert verdict.problem is None
    assert verdict.signer is not None
    assert "So Tai nguyen va Moi truong" in verdict.signer
    assert verdict.signed_at is not None
    assert verdict.signed_at.endswith("Z")


def test_one_flipped_byte_breaks_the_signature(checker: PdfSignatureChecker, signed: bytes) -> None:
    verdict = checker.check(io.BytesIO(flipped(signed, content_offset(signed))))
    assert not verdict.valid
    assert not verdict.trusted
    assert verdict.problem == "the document was changed after it was signed"


def test_bytes_appended_after_signing_are_not_covered(
    checker: PdfSignatureChecker, signed: bytes
) -> None:
    verdict = checker.check(io.BytesIO(signed + b"\n% appended later\n"))
    assert not verdict.valid
    assert verdict.problem is not None
    assert "whole file" in verdict.problem


def test_a_signer_outside_the_trust_roots_is_valid_but_not_trusted(
    tmp_path: Path, signed: bytes
) -> None:
    stranger = ensure_test_pki(tmp_path)
    verdict = PdfSignatureChecker(load_trust_roots(stranger.ca_pem)).check(io.BytesIO(signed))
    assert verdict.valid
    assert not verdict.trusted
    assert verdict.problem == "the signer's certificate does not chain to a trusted root"
    assert not PdfSignatureChecker([]).check(io.BytesIO(signed)).trusted


def test_unsigned_and_unreadable_pdfs_get_a_verdict_not_an_error(
    checker: PdfSignatureChecker,
) -> None:
    unsigned = checker.check(io.BytesIO(sample_pdf()))
    assert (unsigned.valid, unsigned.problem) == (False, "the PDF carries no signature")
    broken = checker.check(io.BytesIO(b"%PDF-1.7\n" + b"\x00garbage" * 100))
    assert (broken.valid, broken.problem) == (False, "the PDF cannot be read")


def test_only_a_pdf_header_makes_a_pdf() -> None:
    assert looks_like_pdf(b"%PDF-1.7\n...")
    assert looks_like_pdf(b"\xef\xbb\xbf junk before %PDF-1.4")
    assert not looks_like_pdf(b'{"not": "a pdf"}')
    assert not looks_like_pdf(b" " * 1024 + b"%PDF-1.7")


# ---------------------------------------------------------------------------- the use case


class FixedChecker:
    def __init__(self, verdict: SignatureVerdict) -> None:
        self.verdict = verdict
        self.seen: list[bytes] = []

    def check(self, pdf: Any) -> SignatureVerdict:
        self.seen.append(pdf.read())
        return self.verdict


GOOD = SignatureVerdict(True, True, "CN=So", "2026-12-01T08:00:00.000000Z")


def issued_event(sha256: str, seconds: int = 0) -> Envelope:
    return make_event(
        DossierResultIssued(
            dossier_id="d-7",
            receipt_code="MT-261201-7KQ4XP",
            document_id="doc-7",
            sha256=sha256,
            size=1234,
            decision_number="123/QĐ-STNMT",
            issued_at=START,
        ),
        source="/hoso/intake",
        actor="system:intake",
        subject="d-7",
        time=START + timedelta(seconds=seconds),
    )


async def record(store: FakeAuditLog, *envelopes: Envelope) -> None:
    async def no_wait(_: float) -> None:
        await asyncio.sleep(0)

    recorder = EventRecorder(
        store,
        PersonalDataCipher(),
        retry_delay=lambda attempt: float(attempt),
        unreachable=lambda exc: False,
        clock=lambda: START,
        sleep=no_wait,
    )
    await recorder.record(
        [IncomingEvent(e, trace_id=None, stream=("dossier.submissions", 0)) for e in envelopes]
    )


async def checkpoint(store: FakeAuditLog) -> None:
    await make_checkpoint(store, KEY, log_id="hoso-audit-test", clock=lambda: START)


def read_event(sha256: str) -> Envelope:
    """An officer's read of a document with the same hash: not an issue."""
    return make_event(
        DossierDocumentRead(
            dossier_id="d-7",
            receipt_code="MT-261201-7KQ4XP",
            document_id="doc-7",
            sha256=sha256,
            read_at=START,
        ),
        source="/hoso/intake",
        actor="officer:cb-01",
        subject="d-7",
        time=START,
    )


async def verify(store: FakeAuditLog, pdf: bytes, checker: Any = None) -> DocumentVerdict:
    verifier = DocumentVerifier(store, checker or FixedChecker(GOOD))
    sha256 = hashlib.sha256(pdf).hexdigest()
    return await verifier.verify(io.BytesIO(pdf), sha256=sha256, size=len(pdf))


async def test_bytes_nobody_issued_are_not_issued() -> None:
    store = FakeAuditLog()
    other = hashlib.sha256(b"another document").hexdigest()
    # A read of these very bytes is in the log, and so is the issue of other bytes.
    await record(store, read_event(hashlib.sha256(b"%PDF-x").hexdigest()), issued_event(other))
    await checkpoint(store)
    verdict = await verify(store, b"%PDF-x")
    assert not verdict.issued
    assert verdict.status is ProofStatus.NOT_ISSUED
    assert verdict.proof is None
    assert verdict.issue is None


async def test_an_issue_after_the_newest_checkpoint_awaits_one() -> None:
    store = FakeAuditLog()
    await record(store, issued_event(hashlib.sha256(b"first").hexdigest()))
    await checkpoint(store)
    await record(store, issued_event(hashlib.sha256(b"%PDF-x").hexdigest(), seconds=5))
    verdict = await verify(store, b"%PDF-x")
    assert verdict.issued
    assert verdict.issue is not None
    assert verdict.status is ProofStatus.AWAITING_CHECKPOINT
    assert verdict.proof is None
    assert verdict.checkpoint is not None
    assert verdict.checkpoint.tree_size == 1
    assert verdict.issue.seq == 2


async def test_an_issue_before_any_checkpoint_awaits_the_first() -> None:
    store = FakeAuditLog()
    await record(store, issued_event(hashlib.sha256(b"%PDF-x").hexdigest()))
    verdict = await verify(store, b"%PDF-x")
    assert verdict.status is ProofStatus.AWAITING_CHECKPOINT
    assert verdict.checkpoint is None


async def test_a_checkpointed_issue_comes_with_a_proof_anyone_can_check() -> None:
    store = FakeAuditLog()
    sha256 = hashlib.sha256(b"%PDF-x").hexdigest()
    await record(store, read_event(sha256), issued_event(sha256, seconds=1))
    await record(store, *(issued_event(f"{n:064x}", seconds=2 + n) for n in range(5)))
    await checkpoint(store)
    checker = FixedChecker(GOOD)
    verdict = await verify(store, b"%PDF-x", checker)
    assert checker.seen == [b"%PDF-x"]
    assert verdict.status is ProofStatus.PROVEN
    assert verdict.proof is not None
    assert verdict.issue is not None
    assert (verdict.issue.seq, verdict.issue.event_type) == (2, ISSUE_EVENT_TYPE)
    assert verdict.issue.receipt_code == "MT-261201-7KQ4XP"
    assert verdict.issue.decision_number == "123/QĐ-STNMT"
    proof = verdict.proof
    assert proof.checkpoint.tree_size == 7
    check = check_issue_proof(
        sha256=sha256,
        entry=proof.entry,
        leaf_index=proof.seq - 1,
        tree_size=proof.checkpoint.tree_size,
        path=[h.hex() for h in proof.path],
        checkpoint=proof.checkpoint,
        public_key=KEY.public_key(),
    )
    assert check.ok, check.failure


async def test_the_signature_verdict_is_passed_on_whatever_the_log_says() -> None:
    store = FakeAuditLog()
    broken = SignatureVerdict(False, False, problem="the document was changed after it was signed")
    verdict = await verify(store, b"%PDF-x", FixedChecker(broken))
    assert verdict.signature == broken
    assert not verdict.issued


def test_the_public_view_of_an_issue_never_shows_a_sealed_value() -> None:
    record = issue_record(
        {
            "seq": 9,
            "event_type": ISSUE_EVENT_TYPE,
            "occurred_at": "2026-12-01T08:00:00.000000Z",
            "payload": {"receipt_code": "MT-261201-7KQ4XP", "decision_number": "pii:v1:gAAAA"},
        }
    )
    assert record.receipt_code == "MT-261201-7KQ4XP"
    assert record.decision_number is None


class CountingLog(FakeAuditLog):
    def __init__(self) -> None:
        super().__init__()
        self.leaf_reads = 0

    async def leaf_entry_hashes(self, tree_size: int) -> list[str]:
        self.leaf_reads += 1
        return await super().leaf_entry_hashes(tree_size)


async def test_the_tree_is_read_once_per_checkpoint() -> None:
    store = CountingLog()
    first, second = (hashlib.sha256(b"%%PDF-%d" % n).hexdigest() for n in (1, 2))
    await record(store, issued_event(first), *(issued_event(f"{n:064x}", 1 + n) for n in range(4)))
    await checkpoint(store)
    verifier = DocumentVerifier(store, FixedChecker(GOOD))
    for _ in range(3):
        verdict = await verifier.verify(io.BytesIO(b"%PDF-1"), sha256=first, size=6)
        assert verdict.status is ProofStatus.PROVEN
    assert store.leaf_reads == 1
    await record(store, issued_event(second, seconds=30))
    await checkpoint(store)
    verdict = await verifier.verify(io.BytesIO(b"%PDF-2"), sha256=second, size=6)
    assert store.leaf_reads == 2
    assert verdict.proof is not None
    assert verdict.proof.checkpoint.tree_size == 6
    # And the older document is now proved in the newer tree, from the same build.
    again = await verifier.verify(io.BytesIO(b"%PDF-1"), sha256=first, size=6)
    assert again.checkpoint == verdict.checkpoint
    assert store.leaf_reads == 2


async def test_an_entry_changed_after_the_checkpoint_gets_no_proof() -> None:
    store = FakeAuditLog()
    sha256 = hashlib.sha256(b"%PDF-x").hexdigest()
    await record(store, issued_event(sha256), issued_event("ab" * 32, seconds=1))
    await checkpoint(store)
    verifier = DocumentVerifier(store, FixedChecker(GOOD))
    assert (await verifier.verify(io.BytesIO(b"%PDF-x"), sha256=sha256, size=6)).proof
    # Edited in the store after the tree was built and cached.
    store.documents[1]["payload"] = {**store.documents[1]["payload"], "receipt_code": "FORGED"}
    with pytest.raises(LogMismatch, match="entry 1 no longer matches"):
        await verifier.verify(io.BytesIO(b"%PDF-x"), sha256=sha256, size=6)
    # A fresh verifier builds the tree from the stored hashes: an edited hash breaks the root.
    store.documents[2]["entry_hash"] = "cd" * 32
    with pytest.raises(LogMismatch, match="no longer give the root"):
        await DocumentVerifier(store, FixedChecker(GOOD)).verify(
            io.BytesIO(b"%PDF-x"), sha256=sha256, size=6
        )


# ---------------------------------------------------------------------------- the proof check


@pytest.fixture
async def proven() -> dict[str, Any]:
    store = FakeAuditLog()
    sha256 = hashlib.sha256(b"%PDF-x").hexdigest()
    await record(store, *(issued_event(f"{n:064x}", seconds=n) for n in range(3)))
    await record(store, issued_event(sha256, seconds=10))
    await record(store, *(issued_event(f"{n:064x}", seconds=20 + n) for n in range(100, 104)))
    await checkpoint(store)
    verdict = await verify(store, b"%PDF-x")
    assert verdict.proof is not None
    proof = verdict.proof
    return {
        "sha256": sha256,
        "entry": proof.entry,
        "leaf_index": proof.seq - 1,
        "tree_size": proof.checkpoint.tree_size,
        "path": [h.hex() for h in proof.path],
        "checkpoint": proof.checkpoint,
        "public_key": KEY.public_key(),
    }


def test_the_untouched_proof_holds(proven: dict[str, Any]) -> None:
    assert check_issue_proof(**proven).ok


@pytest.mark.parametrize(
    ("change", "failure"),
    [
        ({"sha256": "0" * 64}, "another document"),
        ({"entry": "payload"}, "hash does not match"),
        ({"entry": "event_type"}, "not an issue"),
        ({"entry": "junk"}, "not an audit entry"),
        ({"leaf_index": 0}, "another position"),
        ({"path": "swap"}, "does not lead to the checkpoint's root"),
        ({"path": "short"}, "does not lead to the checkpoint's root"),
        ({"checkpoint": "root"}, "does not lead to the checkpoint's root"),
        ({"checkpoint": "signature"}, "signature does not verify"),
        ({"public_key": "other"}, "signature does not verify"),
    ],
)
def test_any_altered_part_of_the_proof_fails_it(
    proven: dict[str, Any], change: dict[str, Any], failure: str
) -> None:
    args = dict(proven)
    [(name, how)] = change.items()
    entry = dict(args["entry"])
    checkpoint: Checkpoint = args["checkpoint"]
    if name == "entry" and how == "payload":
        entry["payload"] = {**entry["payload"], "receipt_code": "MT-000000-FORGED"}
        args["entry"] = entry
    elif name == "entry" and how == "event_type":
        entry["event_type"] = DossierStatusChanged.event_type
        args["entry"] = entry
    elif name == "entry":
        args["entry"] = {**entry, "unexpected": True}
    elif name == "path" and how == "swap":
        args["path"] = list(reversed(args["path"]))
    elif name == "path":
        args["path"] = args["path"][:-1]
    elif name == "checkpoint" and how == "root":
        args["checkpoint"] = checkpoint.model_copy(update={"root_hash": "ab" * 32})
    elif name == "checkpoint":
        args["checkpoint"] = checkpoint.model_copy(update={"issued_at": "2030-01-01T00:00:00Z"})
    elif name == "public_key":
        args["public_key"] = Ed25519PrivateKey.generate().public_key()
    else:
        args[name] = how
    result = check_issue_proof(**args)
    assert not result.ok
    assert result.failure is not None
    assert failure in result.failure


# ---------------------------------------------------------------------------- command line


@pytest.fixture
async def saved_answer(tmp_path: Path, signed: bytes, checker: PdfSignatureChecker) -> Path:
    """The service's answer for the signed original, saved as a citizen would keep it."""
    store = FakeAuditLog()
    await record(store, issued_event(hashlib.sha256(signed).hexdigest()))
    await checkpoint(store)
    verdict = await verify(store, signed, checker)
    proof = verdict.proof
    assert proof is not None
    answer = {
        "sha256": verdict.sha256,
        "issued": True,
        "proof_status": "proven",
        "entry": {
            "seq": proof.seq,
            "type": ISSUE_EVENT_TYPE,
            "time": "2026-12-01T08:00:00.000000Z",
            "receipt_code": "MT-261201-7KQ4XP",
        },
        "inclusion_proof": {
            "seq": proof.seq,
            "leaf_index": proof.seq - 1,
            "tree_size": proof.checkpoint.tree_size,
            "entry_hash": proof.entry["entry_hash"],
            "path": [h.hex() for h in proof.path],
            "checkpoint": proof.checkpoint.model_dump(),
            "entry": proof.entry,
        },
    }
    path = tmp_path / "answer.json"
    path.write_text(json.dumps(answer))
    (tmp_path / "audit.pub.pem").write_bytes(public_key_to_pem(KEY.public_key()))
    return path


def run_cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return main(list(args), out, err), out.getvalue(), err.getvalue()


def offline(pdf: Path, answer: Path, pki: TestPki) -> list[str]:
    return [
        "verify-document",
        str(pdf),
        "--proof",
        str(answer),
        "--public-key",
        str(answer.parent / "audit.pub.pem"),
        "--trust-roots",
        str(pki.ca_pem),
    ]


def test_the_cli_accepts_the_original_offline(
    tmp_path: Path, signed: bytes, saved_answer: Path, pki: TestPki
) -> None:
    original = tmp_path / "giay-phep.pdf"
    original.write_bytes(signed)
    status, out, err = run_cli(*offline(original, saved_answer, pki))
    assert status == 0, out + err
    assert "VALID AND ISSUED" in out
    assert "Inclusion proof" in out
    assert "verified" in out
    assert "MT-261201-7KQ4XP" in out


def test_the_cli_refuses_a_copy_changed_by_one_byte(
    tmp_path: Path, signed: bytes, saved_answer: Path, pki: TestPki
) -> None:
    altered = tmp_path / "giay-phep-sua.pdf"
    altered.write_bytes(flipped(signed, content_offset(signed)))
    status, out, _ = run_cli(*offline(altered, saved_answer, pki))
    assert status == 1
    assert "INVALID" in out
    assert "another document" in out
    assert "NOT VERIFIED" in out


def test_the_cli_refuses_what_the_log_does_not_record(
    tmp_path: Path, signed: bytes, saved_answer: Path, pki: TestPki
) -> None:
    original = tmp_path / "giay-phep.pdf"
    original.write_bytes(signed)
    saved_answer.write_text(json.dumps({"issued": False, "entry": None}))
    status, out, _ = run_cli(*offline(original, saved_answer, pki))
    assert status == 1
    assert "NO: the audit log records no issue" in out


def test_the_cli_says_when_the_proof_is_still_to_come(
    tmp_path: Path, signed: bytes, saved_answer: Path, pki: TestPki
) -> None:
    original = tmp_path / "giay-phep.pdf"
    original.write_bytes(signed)
    answer = json.loads(saved_answer.read_text())
    saved_answer.write_text(json.dumps({**answer, "inclusion_proof": None}))
    status, out, _ = run_cli(*offline(original, saved_answer, pki))
    assert status == 1
    assert "NONE YET" in out


def test_the_cli_refuses_unusable_input(tmp_path: Path, saved_answer: Path, pki: TestPki) -> None:
    not_pdf = tmp_path / "note.txt"
    not_pdf.write_text("hello")
    status, _, err = run_cli(*offline(not_pdf, saved_answer, pki))
    assert status == 2
    assert "is not a PDF" in err
    missing = tmp_path / "missing.pdf"
    status, _, err = run_cli(*offline(missing, saved_answer, pki))
    assert status == 2
    assert "cannot read" in err
