from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, EmailStr, Field

from chassis.auth import Principal, Role, require_roles
from chassis.events import (
    Applicant,
    ApplicantType,
    Channel,
    DossierKind,
    DossierSubmitted,
    make_event,
)
from chassis.kafka import EventPublisher, KafkaUnavailable
from chassis.problems import PROBLEM_RESPONSES, Problem
from intake.settings import IntakeSettings


class ApplicantIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: ApplicantType = ApplicantType.PERSON
    name: str = Field(min_length=1, max_length=200)
    email: EmailStr


class SubmissionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    procedure_code: str = Field(min_length=1, max_length=64)
    applicant: ApplicantIn
    form: dict[str, Any] = Field(default_factory=dict)


class SubmissionAccepted(BaseModel):
    dossier_id: str
    receipt_code: str
    due_date: date


def build_router(settings: IntakeSettings, publisher: EventPublisher) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["dossiers"], responses=PROBLEM_RESPONSES)
    portal = require_roles(settings, Role.PORTAL)

    @router.post("/dossiers", status_code=202, response_model=SubmissionAccepted)
    async def submit(body: SubmissionIn, principal: Principal = Depends(portal)) -> JSONResponse:
        dossier_id = str(uuid.uuid4())
        now = datetime.now(UTC)
        data = DossierSubmitted(
            dossier_id=dossier_id,
            receipt_code=dossier_id[:8].upper(),
            procedure_code=body.procedure_code,
            agency="STNMT",
            kind=DossierKind.PROCEDURE,
            channel=Channel.ONLINE,
            submitted_at=now,
            due_date=now.date(),
            applicant=Applicant(
                type=body.applicant.type, name=body.applicant.name, email=body.applicant.email
            ),
            form=body.form,
        )
        try:
            await publisher.publish(
                make_event(data, source="/hoso/intake", actor=principal.actor())
            )
        except KafkaUnavailable as exc:
            raise Problem(
                503,
                "Service unavailable",
                "the dossier was not recorded; retry",
                headers={"Retry-After": "5"},
            ) from exc
        accepted = SubmissionAccepted(
            dossier_id=dossier_id, receipt_code=data.receipt_code, due_date=data.due_date
        )
        return JSONResponse(accepted.model_dump(mode="json"), status_code=202)

    return router
