"""Offline tools for the audit log.

``python -m audit.cli verify-export --log entries.ndjson --checkpoints checkpoints.ndjson
--public-key key.pem`` proves an exported audit log intact using only the exported files and
the service's public checkpoint key -- no access to the service or its store. Exit status: 0
verified, 1 verification failed, 2 the inputs could not be read.

``python -m audit.cli verify-store --mongodb-uri URI --database audit [--public-key key.pem]
[--from-seq N] [--to-seq M]`` verifies the log where it is stored, reading it directly (the
URI may also come from ``AUDIT_MONGODB_URI`` or ``MONGODB_URI``, which keeps a password out of
the process list). Same table and exit statuses; without ``--public-key`` the chain and the
tree are recomputed but the checkpoints are not checked.

``python -m audit.cli keygen --out DIR`` creates the Ed25519 checkpoint signing key pair.

``python -m audit.cli verify-document FILE [--url AUDIT_URL] [--trust-roots PEM]
[--public-key PEM] [--proof FILE]`` verifies a document the department issued without
trusting the service: the PDF's signature is validated here with pyHanko, its SHA-256
computed here, and the entry recording its issue, the inclusion proof and the checkpoint
(asked of the service, or read from ``--proof``, a saved answer of ``POST
/v1/documents/verify``) are checked here with the audit public key. Exit status: 0 the
signature is valid (and trusted, when trust roots are given) and the issue is proved, 1
not, 2 the inputs could not be read or the service not reached.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import io
import json
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from audit.domain.chain import AuditEntry
from audit.domain.checkpoint import (
    Checkpoint,
    generate_private_key,
    key_id,
    load_public_key,
    private_key_to_pem,
    public_key_to_pem,
)
from audit.domain.documents import ProofCheck, check_issue_proof, looks_like_pdf
from audit.domain.export import MalformedCheckpointError, iter_checkpoints, iter_entries
from audit.domain.verification import VerificationReport, verify_log
from audit.service.verification import (
    InvalidRange,
    RangeVerification,
    check_range,
    verify_range,
)

__all__ = ["main"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_UNUSABLE_INPUT = 2

PRIVATE_KEY_FILE = "audit-checkpoint-key.pem"
PUBLIC_KEY_FILE = "audit-checkpoint-key.pub.pem"
DEFAULT_PROGRESS_EVERY = 100_000


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m audit.cli", description="Offline tools for the hoso audit log."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    verify = commands.add_parser(
        "verify-export",
        help="verify an exported audit log with the public checkpoint key",
        description="Verify the hash chain, Merkle roots and checkpoint signatures of an "
        "exported audit log. Exit 0 if intact, 1 if not, 2 if the inputs cannot be read.",
    )
    verify.add_argument("--log", required=True, type=Path, help="entries NDJSON file")
    verify.add_argument("--checkpoints", required=True, type=Path, help="checkpoints NDJSON")
    verify.add_argument(
        "--public-key", required=True, type=Path, help="Ed25519 public key (PEM or raw base64)"
    )
    verify.add_argument(
        "--progress-every",
        type=int,
        default=DEFAULT_PROGRESS_EVERY,
        metavar="N",
        help="print a progress line to stderr every N entries (0 disables)",
    )

    store = commands.add_parser(
        "verify-store",
        help="verify the audit log in its store",
        description="Verify the hash chain, Merkle roots and (with --public-key) checkpoint "
        "signatures of the stored audit log. Exit 0 if intact, 1 if not, 2 if the store or "
        "the key cannot be used.",
    )
    store.add_argument(
        "--mongodb-uri",
        default=os.environ.get("AUDIT_MONGODB_URI") or os.environ.get("MONGODB_URI"),
        help="store address (default: $AUDIT_MONGODB_URI, then $MONGODB_URI)",
    )
    store.add_argument(
        "--database", default=os.environ.get("AUDIT_MONGODB_DATABASE", "audit"), help="database"
    )
    store.add_argument(
        "--public-key", type=Path, help="Ed25519 public key (PEM or raw base64) for checkpoints"
    )
    store.add_argument(
        "--timeout", type=float, default=5.0, metavar="S", help="seconds to wait for the store"
    )
    store.add_argument("--from-seq", type=int, default=1, metavar="N", help="first seq to verify")
    store.add_argument("--to-seq", type=int, metavar="M", help="last seq to verify (default: end)")

    document = commands.add_parser(
        "verify-document",
        help="verify an issued document: its signature and the log's proof of its issue",
        description="Validate the PDF's signature locally, compute its SHA-256, get the "
        "entry recording its issue with an inclusion proof (from the service or --proof) and "
        "check proof and checkpoint locally with the audit public key. Exit 0 if the "
        "signature is valid and the issue proved, 1 if not, 2 if the inputs cannot be used.",
    )
    document.add_argument("file", type=Path, metavar="FILE", help="the PDF")
    document.add_argument(
        "--url",
        default=os.environ.get("AUDIT_URL", "http://127.0.0.1:8004"),
        help="the audit service (default: $AUDIT_URL, then http://127.0.0.1:8004)",
    )
    document.add_argument(
        "--trust-roots",
        type=Path,
        default=os.environ.get("AUDIT_DOCUMENT_TRUST_ROOTS") or None,
        help="CA certificates (PEM) the signer must chain to "
        "(default: $AUDIT_DOCUMENT_TRUST_ROOTS; without, trust is not checked)",
    )
    document.add_argument(
        "--public-key",
        type=Path,
        help="the audit checkpoint key (PEM or raw base64), kept from the deployment; "
        "without it the key is fetched from the service, which then vouches for itself",
    )
    document.add_argument(
        "--proof",
        type=Path,
        help="a saved answer of POST /v1/documents/verify to use instead of asking the service",
    )
    document.add_argument(
        "--timeout", type=float, default=30.0, metavar="S", help="seconds to wait for the service"
    )

    keygen = commands.add_parser(
        "keygen",
        help="create the checkpoint signing key pair",
        description=f"Write {PRIVATE_KEY_FILE} (mode 0600) and {PUBLIC_KEY_FILE} to DIR.",
    )
    keygen.add_argument("--out", required=True, type=Path, metavar="DIR")
    keygen.add_argument("--force", action="store_true", help="overwrite existing key files")
    return parser


def _lines(handle: Iterable[bytes]) -> Iterator[bytes]:
    # Files are read as bytes so that invalid UTF-8 surfaces as an unreadable entry at its
    # line instead of aborting the run; a leading byte order mark is tolerated.
    first = True
    for line in handle:
        if first:
            first = False
            line = line.removeprefix(b"\xef\xbb\xbf")
        yield line


def _with_progress(entries: Iterable[AuditEntry], every: int, err: TextIO) -> Iterator[AuditEntry]:
    for count, entry in enumerate(entries, start=1):
        if every > 0 and count % every == 0:
            print(f"... {count:,} entries read (seq {entry.seq:,})", file=err, flush=True)
        yield entry


def _print_table(rows: Sequence[tuple[str, str]], out: TextIO) -> None:
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"  {label.ljust(width)}  {value}", file=out)


def _report_rows(
    args: argparse.Namespace, fingerprint: str, report: VerificationReport
) -> list[tuple[str, str]]:
    return [
        ("Entries file", str(args.log)),
        ("Checkpoints file", str(args.checkpoints)),
        ("Public key id", fingerprint),
        *_outcome_rows(report),
    ]


def _outcome_rows(report: VerificationReport) -> list[tuple[str, str]]:
    failure = report.first_failure
    rows = [
        ("Entries checked", f"{report.entries_checked:,}"),
        ("Checkpoints checked", f"{report.checkpoints_checked:,}"),
        (
            "Signed coverage",
            f"seq 1 to {report.checkpointed_size:,}" if report.checkpointed_size else "none",
        ),
        ("Merkle root", report.root_hash),
        ("Result", "OK" if report.ok else "FAILED"),
        ("First failure", f"seq {failure.seq:,}: {failure.reason}" if failure else "none"),
    ]
    if failure is not None and failure.detail:
        rows.append(("Detail", failure.detail))
    return rows


def _verify_export(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    try:
        public_key = load_public_key(args.public_key.read_bytes())
    except (OSError, ValueError) as exc:
        print(f"error: cannot use public key {args.public_key}: {exc}", file=err)
        return EXIT_UNUSABLE_INPUT
    fingerprint = key_id(public_key)

    try:
        with args.checkpoints.open("rb") as handle:
            checkpoints: list[Checkpoint] = list(iter_checkpoints(_lines(handle)))
    except OSError as exc:
        print(f"error: cannot read checkpoints {args.checkpoints}: {exc}", file=err)
        return EXIT_UNUSABLE_INPUT
    except MalformedCheckpointError as exc:
        # Damaged evidence is a verification failure, not an operator mistake.
        print("Audit log verification", file=out)
        _print_table(
            [
                ("Checkpoints file", str(args.checkpoints)),
                ("Result", "FAILED"),
                ("First failure", f"checkpoints file {exc}"),
            ],
            out,
        )
        return EXIT_FAILED

    try:
        with args.log.open("rb") as handle:
            entries = _with_progress(iter_entries(_lines(handle)), args.progress_every, err)
            report = verify_log(entries, checkpoints, public_key)
    except OSError as exc:
        print(f"error: cannot read entries {args.log}: {exc}", file=err)
        return EXIT_UNUSABLE_INPUT

    print("Audit log verification", file=out)
    _print_table(_report_rows(args, fingerprint, report), out)
    if report.ok and report.checkpointed_size < report.tree_size:
        uncovered = report.tree_size - report.checkpointed_size
        print(
            f"\nNote: the last {uncovered:,} entries are after the newest checkpoint; they are "
            "protected by the hash chain only, so their removal from the end of the export "
            "would not be detectable.",
            file=out,
        )
    return EXIT_OK if report.ok else EXIT_FAILED


def _verify_store(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    # Imported here: the offline commands must work without the store driver's set-up.
    from pymongo import AsyncMongoClient
    from pymongo.errors import PyMongoError

    from audit.adapters.store import AuditStore

    if not args.mongodb_uri:
        print("error: give --mongodb-uri or set AUDIT_MONGODB_URI / MONGODB_URI", file=err)
        return EXIT_UNUSABLE_INPUT
    try:
        check_range(args.from_seq, args.to_seq)
    except InvalidRange:
        print("error: need 1 <= --from-seq <= --to-seq", file=err)
        return EXIT_UNUSABLE_INPUT
    public_key: Ed25519PublicKey | None = None
    if args.public_key is not None:
        try:
            public_key = load_public_key(args.public_key.read_bytes())
        except (OSError, ValueError) as exc:
            print(f"error: cannot use public key {args.public_key}: {exc}", file=err)
            return EXIT_UNUSABLE_INPUT

    async def verify() -> RangeVerification:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            args.mongodb_uri,
            serverSelectionTimeoutMS=int(args.timeout * 1000),
            connectTimeoutMS=int(args.timeout * 1000),
            tz_aware=True,
        )
        try:
            store = AuditStore(client[args.database])
            return await verify_range(store, public_key, args.from_seq, args.to_seq)
        finally:
            await client.close()

    try:
        result = asyncio.run(verify())
    except PyMongoError as exc:
        print(f"error: cannot read the audit store: {type(exc).__name__}", file=err)
        return EXIT_UNUSABLE_INPUT

    report = result.report
    span = (
        f"seq {args.from_seq:,} to {args.to_seq:,}" if args.to_seq else f"seq {args.from_seq:,} on"
    )
    rows = [
        ("Database", args.database),
        ("Range", span),
        (
            "Started after",
            f"checkpoint {result.trusted_size:,} (signature checked)"
            if result.trusted_size
            else "seq 0 (the whole log)",
        ),
        ("Public key id", key_id(public_key) if public_key else "none: checkpoints not checked"),
        *_outcome_rows(report),
    ]
    print("Audit log verification", file=out)
    _print_table(rows, out)
    return EXIT_OK if report.ok else EXIT_FAILED


def _write_new_file(path: Path, data: bytes, mode: int, force: bool) -> None:
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
    fd = os.open(path, flags, mode)
    try:
        # An overwritten file keeps its old permissions unless they are reset explicitly.
        os.fchmod(fd, mode)
        os.write(fd, data)
    finally:
        os.close(fd)


def _keygen(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    directory: Path = args.out
    private_path = directory / PRIVATE_KEY_FILE
    public_path = directory / PUBLIC_KEY_FILE
    private_key = generate_private_key()
    public_key = private_key.public_key()
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        _write_new_file(private_path, private_key_to_pem(private_key), 0o600, args.force)
        _write_new_file(public_path, public_key_to_pem(public_key), 0o644, args.force)
    except FileExistsError as exc:
        print(f"error: {exc.filename} already exists; use --force to replace it", file=err)
        return EXIT_UNUSABLE_INPUT
    except OSError as exc:
        print(f"error: cannot write keys to {directory}: {exc}", file=err)
        return EXIT_UNUSABLE_INPUT
    print(f"private key  {private_path}  (keep secret; give it to the audit service)", file=out)
    print(f"public key   {public_path}  (give it to auditors)", file=out)
    print(f"key id       {key_id(public_key)}", file=out)
    return EXIT_OK


def _service_answer(args: argparse.Namespace, pdf: bytes) -> dict[str, Any]:
    """The service's verdict on the document: read from ``--proof`` or asked for."""
    if args.proof is not None:
        answer = json.loads(args.proof.read_bytes())
    else:
        response = httpx.post(
            f"{args.url.rstrip('/')}/v1/documents/verify",
            content=pdf,
            headers={"Content-Type": "application/pdf"},
            timeout=args.timeout,
        )
        response.raise_for_status()
        answer = response.json()
    if not isinstance(answer, dict):
        raise ValueError("the answer is not a JSON object")
    return answer


def _audit_key(args: argparse.Namespace) -> tuple[Ed25519PublicKey, str]:
    """The checkpoint key, and where it came from."""
    if args.public_key is not None:
        return load_public_key(args.public_key.read_bytes()), str(args.public_key)
    response = httpx.get(f"{args.url.rstrip('/')}/v1/audit/public-key.pem", timeout=args.timeout)
    response.raise_for_status()
    return load_public_key(response.content), "fetched from the service (give --public-key)"


def _issue_rows(
    answer: dict[str, Any], sha256: str, public_key: Ed25519PublicKey
) -> tuple[bool, list[tuple[str, str]]]:
    """Whether the issue is proved here, and the rows that say how. What the rows show of
    the entry is read from the sealed entry once its proof holds; before, it is only the
    service's word and is labelled so."""
    entry = answer.get("entry") if isinstance(answer.get("entry"), dict) else None
    proof = answer.get("inclusion_proof")
    if entry is None or not answer.get("issued"):
        return False, [("Issued", "NO: the audit log records no issue of these bytes")]
    claimed = [
        (
            "Issued",
            f"entry {entry.get('seq')} at {entry.get('time')} (the service's word, not proved)",
        ),
        ("Receipt code", str(entry.get("receipt_code"))),
    ]
    if not isinstance(proof, dict):
        return False, [
            *claimed,
            (
                "Inclusion proof",
                "NONE YET: recorded after the newest checkpoint; retry after the next one",
            ),
        ]
    try:
        checkpoint = Checkpoint.model_validate(proof.get("checkpoint"))
        result = check_issue_proof(
            sha256=sha256,
            entry=proof["entry"],
            leaf_index=int(proof["leaf_index"]),
            tree_size=int(proof["tree_size"]),
            path=[str(h) for h in proof["path"]],
            checkpoint=checkpoint,
            public_key=public_key,
        )
    except (KeyError, TypeError, ValueError) as exc:
        result = ProofCheck(False, f"the proof is malformed: {type(exc).__name__}")
    if not result.ok:
        return False, [*claimed, ("Inclusion proof", f"FAILED: {result.failure}")]
    sealed = AuditEntry.model_validate(proof["entry"])
    return True, [
        ("Issued", f"entry {sealed.seq} ({sealed.event_type}) at {sealed.occurred_at}"),
        ("Receipt code", str(sealed.payload.get("receipt_code"))),
        ("Decision number", str(sealed.payload.get("decision_number"))),
        (
            "Inclusion proof",
            f"verified: leaf {sealed.seq - 1} of {checkpoint.tree_size} entries, "
            f"checkpoint signed {checkpoint.issued_at}",
        ),
    ]


def _verify_document(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from audit.adapters.signatures import PdfSignatureChecker, load_trust_roots

    try:
        pdf = args.file.read_bytes()
    except OSError as exc:
        print(f"error: cannot read {args.file}: {exc}", file=err)
        return EXIT_UNUSABLE_INPUT
    if not looks_like_pdf(pdf):
        print(f"error: {args.file} is not a PDF", file=err)
        return EXIT_UNUSABLE_INPUT
    try:
        roots = load_trust_roots(args.trust_roots)
    except (OSError, ValueError) as exc:
        print(f"error: cannot use trust roots {args.trust_roots}: {exc}", file=err)
        return EXIT_UNUSABLE_INPUT
    sha256 = hashlib.sha256(pdf).hexdigest()
    signature = PdfSignatureChecker(roots).check(io.BytesIO(pdf))
    try:
        public_key, key_source = _audit_key(args)
        answer = _service_answer(args, pdf)
    except (OSError, ValueError, httpx.HTTPError) as exc:
        print(f"error: cannot get the proof or the key: {type(exc).__name__}: {exc}", file=err)
        return EXIT_UNUSABLE_INPUT
    proved, issue_rows = _issue_rows(answer, sha256, public_key)
    signature_ok = signature.valid and (signature.trusted or not roots)
    rows = [
        ("File", str(args.file)),
        ("SHA-256", sha256),
        ("Signature", "valid" if signature.valid else f"INVALID: {signature.problem}"),
        (
            "Trusted signer",
            ("yes" if signature.trusted else f"NO: {signature.problem}")
            if roots
            else "not checked (give --trust-roots)",
        ),
        ("Signer", signature.signer or "-"),
        ("Signed at", signature.signed_at or "-"),
        *issue_rows,
        ("Audit key", f"{key_id(public_key)}, {key_source}"),
        ("Result", "VALID AND ISSUED" if signature_ok and proved else "NOT VERIFIED"),
    ]
    print("Document verification", file=out)
    _print_table(rows, out)
    return EXIT_OK if signature_ok and proved else EXIT_FAILED


def main(
    argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """Run the CLI; returns the exit status."""
    args = _build_parser().parse_args(argv)
    stdout = out if out is not None else sys.stdout
    stderr = err if err is not None else sys.stderr
    if args.command == "verify-export":
        return _verify_export(args, stdout, stderr)
    if args.command == "verify-store":
        return _verify_store(args, stdout, stderr)
    if args.command == "verify-document":
        return _verify_document(args, stdout, stderr)
    return _keygen(args, stdout, stderr)


if __name__ == "__main__":
    raise SystemExit(main())
