"""GET /v1/identities/{pseudonym}: who is behind a denouncer's pseudonym, for clearance.

Only an officer or leader holding the ``identity:resolve`` scope, of the agency that
handles the denunciation, may look; every look is published as
``dossier.identity-resolved`` (who looked, at which dossier; never what they saw) before
anything is shown, so the audit log has it even if the answer is lost.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pymongo.errors import PyMongoError

from chassis.auth import Principal, Role, Scope, require_roles
from chassis.events import DossierIdentityResolved, make_event
from chassis.kafka import KafkaUnavailable
from chassis.problems import PROBLEM_RESPONSES, Problem
from intake.api.context import IntakeContext
from intake.api.dossiers import SOURCE
from intake.api.models import IdentityOut
from intake.domain.identity import PSEUDONYM_PREFIX, UnreadableIdentity

log = logging.getLogger("intake.identities")


def build_identity_router(ctx: IntakeContext) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["identities"], responses=PROBLEM_RESPONSES)
    staff = require_roles(ctx.settings, Role.OFFICER, Role.LEADER)

    @router.get(
        "/identities/{pseudonym}",
        response_model=IdentityOut,
        summary="Resolve a denouncer's pseudonym (needs the identity:resolve clearance)",
    )
    async def resolve(pseudonym: str, principal: Principal = Depends(staff)) -> JSONResponse:
        if Scope.IDENTITY_RESOLVE.value not in principal.scopes:
            raise Problem(403, "Forbidden", "resolving a pseudonym needs identity:resolve")
        await ctx.per_client.enforce(principal.actor())
        not_found = Problem(404, "Pseudonym not found", "no denunciation under this pseudonym")
        if not pseudonym.startswith(PSEUDONYM_PREFIX) or len(pseudonym) > 64:
            raise not_found
        try:
            submission = await ctx.store.by_pseudonym(pseudonym)
        except PyMongoError as exc:
            ctx.store_failed(exc)
        # Another agency's officer learns nothing, not even that the pseudonym exists.
        if submission is None or submission.get("agency") != principal.agency:
            raise not_found
        if ctx.seal is None:
            raise Problem(503, "Service not configured", "no identity key is configured")
        try:
            identity = ctx.seal.open(submission["identity"])
        except UnreadableIdentity as exc:
            log.error("sealed identity of dossier %s cannot be opened", submission["_id"])
            raise Problem(500, "Identity cannot be opened", "the error was logged") from exc
        now = datetime.now(UTC)
        event = make_event(
            DossierIdentityResolved(
                dossier_id=submission["_id"],
                receipt_code=submission["receipt_code"],
                pseudonym=pseudonym,
                resolved_at=now,
            ),
            source=SOURCE,
            actor=principal.actor(),
        )
        try:
            await ctx.publisher.publish(event, key=submission["_id"])
        except KafkaUnavailable as exc:
            raise ctx.unavailable("the resolution could not be recorded") from exc
        log.info("denouncer of dossier %s resolved by %s", submission["_id"], principal.actor())
        body = IdentityOut(
            pseudonym=pseudonym,
            dossier_id=submission["_id"],
            receipt_code=submission["receipt_code"],
            name=identity.name,
            id_number=identity.id_number,
            address=identity.address,
            phone=identity.phone,
            email=identity.email,
        )
        return JSONResponse(body.model_dump(mode="json"), headers={"Cache-Control": "no-store"})

    return router
