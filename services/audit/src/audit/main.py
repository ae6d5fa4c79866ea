"""Audit: an append-only, tamper-evident log of everything that happened to dossiers."""

from __future__ import annotations

import logging

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI, Request
from pymongo.errors import ConnectionFailure

from audit.adapters.checkpointer import Checkpointer
from audit.adapters.consumer import AuditRecorder
from audit.adapters.signatures import PdfSignatureChecker, load_trust_roots
from audit.adapters.store import AuditStore
from audit.api import documents, entries, integrity
from audit.api.dependencies import ApiContext
from audit.domain.checkpoint import generate_private_key, load_private_key
from audit.domain.personal_data import PersonalDataCipher
from audit.service.auditors import AuditService
from audit.service.documents import DocumentVerifier
from audit.settings import AuditSettings
from chassis.events import Topics
from chassis.kafka import ConsumerLoop
from chassis.problems import SERVICE_UNAVAILABLE, ProblemResponse, problem_response
from chassis.service import Runtime, create_app, serve

log = logging.getLogger(__name__)

TAGS = [
    {
        "name": "entries",
        "description": "Auditors reading the log: a dossier's trail, filtered pages, streamed "
        "NDJSON and CSV exports. Personal data in clear only with the `audit:pii` scope.",
    },
    {
        "name": "documents",
        "description": "Anyone verifying a document the department issued: its signature, "
        "and the audit log's proof that these exact bytes were issued. No token.",
    },
    {
        "name": "integrity",
        "description": "Checking the log: signed Merkle checkpoints, inclusion and "
        "consistency proofs (RFC 9162), verification of a range, the public key.",
    },
]


def signing_key(settings: AuditSettings) -> tuple[Ed25519PrivateKey, bool]:
    """The checkpoint signing key and whether it is ephemeral (made up for this process)."""
    if settings.signing_key is None or not settings.signing_key.get_secret_value().strip():
        return generate_private_key(), True
    # A PEM squeezed into one line of an env file keeps its line breaks as "\n".
    text = settings.signing_key.get_secret_value().strip().replace("\\n", "\n")
    return load_private_key(text), False


def build_app(settings: AuditSettings | None = None) -> FastAPI:
    settings = settings or AuditSettings()
    key, ephemeral = signing_key(settings)
    cipher = PersonalDataCipher.from_setting(
        settings.pii_key.get_secret_value() if settings.pii_key else None
    )
    runtime = Runtime(settings)
    store = AuditStore(runtime.db)
    recorder = AuditRecorder(store, cipher)
    checkpointer = Checkpointer(
        store,
        key,
        log_id=settings.log_id,
        interval_s=settings.checkpoint_interval_s,
        read_batch=settings.read_batch,
    )
    runtime.on_startup(store.create_indexes)
    runtime.add_consumer(
        ConsumerLoop(
            settings=settings,
            group="audit",
            topics=list(Topics.ALL),
            publisher=runtime.publisher,
            batch_handler=recorder.record,
        )
    )
    runtime.add_worker("audit-checkpoints", checkpointer.run)
    service = AuditService(
        store=store,
        cipher=cipher,
        public_key=key.public_key(),
        ephemeral_key=ephemeral,
        log_id=settings.log_id,
        page_size_max=settings.page_size_max,
        trail_size_max=settings.trail_size_max,
        read_batch=settings.read_batch,
    )
    checker = PdfSignatureChecker(load_trust_roots(settings.document_trust_roots))
    verifier = DocumentVerifier(store, checker, settings.document_verify_concurrency)
    app = create_app(
        runtime,
        title="Audit",
        description="Append-only, hash-chained audit log of every dossier event, with signed "
        "Merkle checkpoints, proofs and verification for auditors; verification of issued "
        "documents for anyone.",
        routers=[entries.router, integrity.router, documents.router],
        tags=TAGS,
        body_limits={documents.VERIFY_PATH: settings.document_max_bytes},
    )
    app.state.audit = ApiContext(service, settings, verifier)

    @app.exception_handler(ConnectionFailure)
    async def _store_unreachable(request: Request, exc: ConnectionFailure) -> ProblemResponse:
        return problem_response(
            SERVICE_UNAVAILABLE(
                "the audit log cannot be read right now; retry",
                headers={"Retry-After": "5"},
            ),
            request,
        )

    if ephemeral:
        log.warning(
            "AUDIT_SIGNING_KEY is not set: checkpoints are signed with a key that dies with "
            "this process and will not verify after a restart"
        )
    if not checker.has_trust_roots:
        log.warning(
            "AUDIT_DOCUMENT_TRUST_ROOTS is not set: document signatures are checked but "
            "never trusted"
        )
    if not cipher.encrypts:
        log.warning(
            "AUDIT_PII_KEY is not set: personal data in audit entries is masked for good and "
            "cannot be revealed to auditors with clearance"
        )
    return app


def run() -> None:
    settings = AuditSettings()
    serve(build_app(settings), settings)


if __name__ == "__main__":
    run()
