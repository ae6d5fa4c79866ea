"""Auditors checking the log: signed checkpoints, proofs, verification, the public key."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
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
from chassis.problems import PROBLEM_RESPONSES, Problem

router = APIRouter(prefix="/v1/audit", tags=["audit"], responses=PROBLEM_RESPONSES)

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
        raise Problem(404, "Checkpoint not found", str(exc)) from exc
    except ValueError as exc:
        raise Problem(
            422,
            "Request is not valid",
            str(exc),
            errors=[{"pointer": pointer, "detail": str(exc)}],
        ) from exc
    except LogMismatch as exc:
        raise Problem(409, "The log does not match its checkpoint", str(exc)) from exc


async def _verify(service: AuditService, from_seq: int, to_seq: int | None) -> VerificationOut:
    try:
        return _verification_out(await service.verify(from_seq, to_seq))
    except InvalidRange as exc:
        raise Problem(
            422,
            "Request is not valid",
            "to_seq is before from_seq",
            errors=[{"pointer": "query:/to_seq", "detail": "must not be before from_seq"}],
        ) from exc


# ---------------------------------------------------------------------------- checkpoints


@router.get(
    "/checkpoints",
    summary="Signed checkpoints by tree size",
    response_model=CheckpointPage,
    dependencies=[Depends(auditor)],
)
async def checkpoints(
    request: Request,
    service: Service,
    context: Context,
    principal: Auditor,
    after_size: Annotated[int, Query(ge=0, le=MAX_SAFE_INTEGER)] = 0,
    limit: Annotated[int, Query(ge=1, le=PAGE_SIZE_MAX)] = PAGE_SIZE_DEFAULT,
) -> CheckpointPage:
    try:
        found = await service.checkpoints(
            after_size=after_size,
            limit=page_limit(request, limit, context.settings.page_size_default),
        )
    except LimitTooLarge as exc:
        raise limit_refused(exc) from exc
    return CheckpointPage(
        checkpoints=[_checkpoint_out(c) for c in found.checkpoints],
        next_after_size=found.next_after_size,
        has_more=found.has_more,
    )


@router.get(
    "/checkpoints/latest",
    summary="The newest signed checkpoint",
    response_model=CheckpointOut,
    dependencies=[Depends(auditor)],
)
async def latest_checkpoint(service: Service, principal: Auditor) -> CheckpointOut:
    try:
        return _checkpoint_out(await service.latest_checkpoint())
    except NoCheckpointYet as exc:
        raise Problem(404, "No checkpoint yet", str(exc)) from exc


@router.get(
    "/checkpoints.ndjson",
    summary="Export every checkpoint as NDJSON, to keep outside the system",
    response_class=StreamingResponse,
    responses={200: {"content": {NDJSON: {}}}},
    dependencies=[Depends(auditor)],
)
async def export_checkpoints(service: Service, principal: Auditor) -> StreamingResponse:
    return StreamingResponse(
        await primed_chunks(ndjson_lines(service.export_checkpoints())),
        media_type=NDJSON,
        headers={"Content-Disposition": 'attachment; filename="audit-checkpoints.ndjson"'},
    )


# ---------------------------------------------------------------------------- proofs


@router.get(
    "/proofs/inclusion",
    summary="Prove that an entry is in the tree a checkpoint signed",
    response_model=InclusionProofOut,
    dependencies=[Depends(auditor)],
)
async def inclusion_proof(
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
    response_model=ConsistencyProofOut,
    dependencies=[Depends(auditor)],
)
async def consistency_proof(
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


@router.get(
    "/verify",
    summary="Recompute chain and tree over a range; report the first entry that differs",
    response_model=VerificationOut,
    dependencies=[Depends(auditor)],
)
async def verify_get(
    service: Service,
    principal: Auditor,
    from_seq: TreeSize = 1,
    to_seq: Annotated[int | None, Query(ge=1, le=MAX_SAFE_INTEGER)] = None,
) -> VerificationOut:
    return await _verify(service, from_seq, to_seq)


@router.post(
    "/verify",
    summary="Recompute chain and tree over a range; report the first entry that differs",
    response_model=VerificationOut,
    dependencies=[Depends(auditor)],
)
async def verify_post(body: VerifyRequest, service: Service, principal: Auditor) -> VerificationOut:
    return await _verify(service, body.from_seq, body.to_seq)


# ---------------------------------------------------------------------------- key


@router.get(
    "/public-key",
    summary="The Ed25519 key that verifies checkpoints (public, no token needed)",
    response_model=PublicKeyOut,
)
async def public_key(service: Service) -> PublicKeyOut:
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
    response_class=PlainTextResponse,
    responses={200: {"content": {"application/x-pem-file": {}}}},
)
async def public_key_pem(service: Service) -> PlainTextResponse:
    return PlainTextResponse(service.public_key_info().pem, media_type="application/x-pem-file")
