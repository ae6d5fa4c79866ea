"""Auditors checking the log: signed checkpoints, proofs, verification, the public key."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import PlainTextResponse, StreamingResponse

from audit.api.dependencies import (
    PAGE_SIZE_DEFAULT,
    PAGE_SIZE_MAX,
    Auditor,
    Context,
    Service,
    auditor,
    limit_refused,
    page_limit,
)
from audit.api.models import (
    CheckpointOut,
    CheckpointPage,
    ConsistencyProofOut,
    FailureOut,
    InclusionProofOut,
    PublicKeyOut,
    VerificationOut,
    VerifyRequest,
)
from audit.api.problems import CHECKPOINT_NOT_FOUND, LOG_MISMATCH, NO_CHECKPOINT_YET
from audit.api.streaming import NDJSON, ndjson_lines, primed_chunks
from audit.domain.canonical import MAX_SAFE_INTEGER
from audit.domain.checkpoint import Checkpoint
from audit.service.auditors import AuditService, LimitTooLarge, NoCheckpointYet
from audit.service.verification import (
    CheckpointNotFound,
    InvalidRange,
    LogMismatch,
    RangeVerification,
)
from chassis import pagination
from chassis.openapi import AUTH_PROBLEMS, BODY_PROBLEMS, headers, problem_responses
from chassis.pagination import CursorParam
from chassis.problems import SERVICE_UNAVAILABLE, VALIDATION_FAILED

router = APIRouter(prefix="/v1/audit", tags=["integrity"])

_AUDITOR = (*AUTH_PROBLEMS, SERVICE_UNAVAILABLE)
_PROOF = (*_AUDITOR, CHECKPOINT_NOT_FOUND, LOG_MISMATCH)
_CHECKPOINTS = "checkpoints"
PEM = "application/x-pem-file"


class PemResponse(PlainTextResponse):
    media_type = PEM


TreeSize = Annotated[int, Query(ge=1, le=MAX_SAFE_INTEGER)]
NewestByDefault = Annotated[
    int | None, Query(ge=1, le=MAX_SAFE_INTEGER, description="default: newest")
]


def _checkpoint_out(checkpoint: Checkpoint) -> CheckpointOut:
    return CheckpointOut(**checkpoint.model_dump())


def _verification_out(result: RangeVerification) -> VerificationOut:
    report = result.report
    failure = report.first_failure
    return VerificationOut(
        ok=report.ok,
        from_seq=result.from_seq,
        to_seq=result.to_seq,
        trusted_size=result.trusted_size,
        entries_checked=report.entries_checked,
        checkpoints_checked=report.checkpoints_checked,
        tree_size=report.tree_size,
        root_hash=report.root_hash,
        last_entry_hash=report.last_entry_hash,
        checkpointed_size=report.checkpointed_size,
        first_failure=(
            FailureOut(seq=failure.seq, reason=failure.reason.value, detail=failure.detail)
            if failure is not None
            else None
        ),
    )


@contextmanager
def _proof_refusals(pointer: str) -> Iterator[None]:
    """The proofs' refusals as problems: no such checkpoint, a request no proof answers
    (``pointer`` names the parameter), a log that no longer matches."""
    try:
        yield
    except CheckpointNotFound as exc:
        raise CHECKPOINT_NOT_FOUND(str(exc)) from exc
    except ValueError as exc:
        raise VALIDATION_FAILED(
            str(exc),
            errors=[{"pointer": pointer, "detail": str(exc)}],
        ) from exc
    except LogMismatch as exc:
        raise LOG_MISMATCH(str(exc)) from exc


async def _verify(service: AuditService, from_seq: int, to_seq: int | None) -> VerificationOut:
    try:
        return _verification_out(await service.verify(from_seq, to_seq))
    except InvalidRange as exc:
        raise VALIDATION_FAILED(
            "to_seq is before from_seq",
            errors=[{"pointer": "query:/to_seq", "detail": "must not be before from_seq"}],
        ) from exc


# ---------------------------------------------------------------------------- checkpoints


def _after_size(cursor: str | None) -> int:
    if cursor is None:
        return 0
    position = pagination.decode_cursor(cursor, _CHECKPOINTS)
    size = position[0] if len(position) == 1 else None
    if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= MAX_SAFE_INTEGER:
        raise pagination.invalid_cursor()
    return size


@router.get(
    "/checkpoints",
    summary="Signed checkpoints by tree size",
    description="Oldest first, one page at a time: pass `next_cursor` back as `cursor` (or "
    "follow the `Link` header).",
    response_model=CheckpointPage,
    dependencies=[Depends(auditor)],
    responses={200: {"headers": headers("Link")}, **problem_responses(*_AUDITOR)},
)
async def list_checkpoints(
    request: Request,
    response: Response,
    service: Service,
    context: Context,
    principal: Auditor,
    cursor: CursorParam = None,
    limit: Annotated[int, Query(ge=1, le=PAGE_SIZE_MAX)] = PAGE_SIZE_DEFAULT,
) -> CheckpointPage:
    try:
        found = await service.checkpoints(
            after_size=_after_size(cursor),
            limit=page_limit(request, limit, context.settings.page_size_default),
        )
    except LimitTooLarge as exc:
        raise limit_refused(exc) from exc
    next_cursor = (
        pagination.encode_cursor(_CHECKPOINTS, found.next_after_size) if found.has_more else None
    )
    pagination.link_next(request, response, next_cursor)
    return CheckpointPage(
        checkpoints=[_checkpoint_out(c) for c in found.checkpoints], next_cursor=next_cursor
    )


@router.get(
    "/checkpoints/latest",
    summary="The newest signed checkpoint",
    description="The tree head to check proofs and exports against.",
    response_model=CheckpointOut,
    dependencies=[Depends(auditor)],
    responses=problem_responses(*_AUDITOR, NO_CHECKPOINT_YET),
)
async def get_latest_checkpoint(service: Service, principal: Auditor) -> CheckpointOut:
    try:
        return _checkpoint_out(await service.latest_checkpoint())
    except NoCheckpointYet as exc:
        raise NO_CHECKPOINT_YET(str(exc)) from exc


_CHECKPOINTS_NDJSON = (
    '{"log_id":"hoso-audit","tree_size":41,"root_hash":"…","last_entry_hash":"…",'
    '"issued_at":"2026-11-27T01:29:05.000Z","key_id":"9c1f0e2d3b4a5968","signature":"…"}\n'
)


@router.get(
    "/checkpoints.ndjson",
    summary="Export every checkpoint as NDJSON, to keep outside the system",
    description="With an export of the entries and the public key, `python -m audit.cli "
    "verify-export` proves the log offline.",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {NDJSON: {"schema": {"type": "string"}, "example": _CHECKPOINTS_NDJSON}},
            "headers": headers("Content-Disposition"),
            "description": "The file `audit-checkpoints.ndjson`, streamed",
        },
        **problem_responses(*_AUDITOR),
    },
    dependencies=[Depends(auditor)],
)
async def export_checkpoints_ndjson(service: Service, principal: Auditor) -> StreamingResponse:
    return StreamingResponse(
        await primed_chunks(ndjson_lines(service.export_checkpoints())),
        media_type=NDJSON,
        headers={"Content-Disposition": 'attachment; filename="audit-checkpoints.ndjson"'},
    )


# ---------------------------------------------------------------------------- proofs


@router.get(
    "/proofs/inclusion",
    summary="Prove that an entry is in the tree a checkpoint signed",
    description="The entry as sealed, its audit path and the checkpoint whose root the path "
    "leads to (the newest unless `tree_size` names another).",
    response_model=InclusionProofOut,
    dependencies=[Depends(auditor)],
    responses=problem_responses(*_PROOF),
)
async def get_inclusion_proof(
    seq: TreeSize,
    service: Service,
    principal: Auditor,
    tree_size: NewestByDefault = None,
) -> InclusionProofOut:
    with _proof_refusals("query:/seq"):
        proof = await service.prove_inclusion(seq, tree_size)
    return InclusionProofOut(
        seq=proof.seq,
        leaf_index=proof.seq - 1,
        tree_size=proof.checkpoint.tree_size,
        entry_hash=str(proof.entry.get("entry_hash")),
        path=[h.hex() for h in proof.path],
        checkpoint=_checkpoint_out(proof.checkpoint),
        entry=proof.entry,
    )


@router.get(
    "/proofs/consistency",
    summary="Prove that a later checkpoint extends an earlier one",
    description="RFC 9162 §2.1.4: the tree of checkpoint `second` (default: newest) keeps "
    "every entry of the tree of checkpoint `first`.",
    response_model=ConsistencyProofOut,
    dependencies=[Depends(auditor)],
    responses=problem_responses(*_PROOF),
)
async def get_consistency_proof(
    first: TreeSize,
    service: Service,
    principal: Auditor,
    second: NewestByDefault = None,
) -> ConsistencyProofOut:
    with _proof_refusals("query:/first"):
        proof = await service.prove_consistency(first, second)
    return ConsistencyProofOut(
        first=_checkpoint_out(proof.first),
        second=_checkpoint_out(proof.second),
        path=[h.hex() for h in proof.path],
    )


# ---------------------------------------------------------------------------- verification


_VERIFY = (
    "Checks every entry's hash chain and every checkpoint's signature and root over "
    "`from_seq`..`to_seq` (default: to the end), starting from the newest trusted checkpoint "
    "below `from_seq`."
)


@router.get(
    "/verify",
    summary="Recompute chain and tree over a range; report the first entry that differs",
    description=_VERIFY,
    response_model=VerificationOut,
    dependencies=[Depends(auditor)],
    responses=problem_responses(*_AUDITOR),
)
async def verify_log(
    service: Service,
    principal: Auditor,
    from_seq: TreeSize = 1,
    to_seq: Annotated[int | None, Query(ge=1, le=MAX_SAFE_INTEGER)] = None,
) -> VerificationOut:
    return await _verify(service, from_seq, to_seq)


@router.post(
    "/verify",
    summary="Recompute chain and tree over a range; report the first entry that differs",
    description=_VERIFY + " The range in a body, for clients that prefer one.",
    response_model=VerificationOut,
    dependencies=[Depends(auditor)],
    responses=problem_responses(*_AUDITOR, *BODY_PROBLEMS),
)
async def verify_log_range(
    body: VerifyRequest, service: Service, principal: Auditor
) -> VerificationOut:
    return await _verify(service, body.from_seq, body.to_seq)


# ---------------------------------------------------------------------------- key


@router.get(
    "/public-key",
    summary="The Ed25519 key that verifies checkpoints (public, no token needed)",
    description="Its id is the one checkpoints name in `key_id`.",
    response_model=PublicKeyOut,
    responses=problem_responses(),
)
async def get_public_key(service: Service) -> PublicKeyOut:
    key = service.public_key_info()
    return PublicKeyOut(
        log_id=key.log_id,
        key_id=key.key_id,
        public_key_pem=key.pem,
        public_key_base64=key.base64,
        ephemeral=key.ephemeral,
    )


@router.get(
    "/public-key.pem",
    summary="The checkpoint key as a PEM file, for `audit.cli verify-export --public-key`",
    description="The same key as `GET /v1/audit/public-key`, as a file.",
    response_class=PemResponse,
    responses={
        200: {
            "content": {
                PEM: {
                    "schema": {"type": "string"},
                    "example": "-----BEGIN PUBLIC KEY-----\n"
                    "MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n"
                    "-----END PUBLIC KEY-----\n",
                }
            }
        },
        **problem_responses(),
    },
)
async def get_public_key_pem(service: Service) -> PemResponse:
    return PemResponse(service.public_key_info().pem)
