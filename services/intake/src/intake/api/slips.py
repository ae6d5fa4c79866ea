"""GET /v1/dossiers/{receipt_code}/slip.pdf: the receipt-and-appointment slip to print."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import Response

from chassis.openapi import AUTH_PROBLEMS, headers, problem_responses
from chassis.problems import SERVICE_UNAVAILABLE, TOO_MANY_REQUESTS
from intake.api.deps import SlipPrinter, SlipService
from intake.api.models import RECEIPT_CODE
from intake.problems import PROCEDURE_WITHDRAWN, RECEIPT_NOT_FOUND

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["dossiers"])


@router.get(
    "/dossiers/{receipt_code}/slip.pdf",
    response_class=Response,
    summary="The receipt-and-appointment slip of a dossier, as PDF",
    description=(
        "Giấy tiếp nhận hồ sơ và hẹn trả kết quả (form 01 of Circular 01/2018/TT-VPCP): "
        "the department and unit, the receipt code as text and as a QR code, the "
        "applicant, the procedure, the documents received, when, the appointment date, "
        "who received it and how to follow it up. For the one-stop desk (every unit's "
        "dossiers) and for officers and leaders of the dossier's unit; another unit's "
        "dossier is 404. The QR code holds the receipt code, or the follow-up page's "
        "address (`INTAKE_FOLLOW_UP_URL`); never the follow-up secret."
    ),
    responses={
        200: {
            "content": {
                "application/pdf": {
                    "schema": {"type": "string", "format": "binary"},
                    "example": "%PDF-1.7 … (the slip)",
                }
            },
            "description": "The slip, one A4 page",
            "headers": headers("Cache-Control", "Content-Disposition"),
        },
        **problem_responses(
            *AUTH_PROBLEMS,
            TOO_MANY_REQUESTS,
            RECEIPT_NOT_FOUND,
            PROCEDURE_WITHDRAWN,
            SERVICE_UNAVAILABLE,
        ),
    },
)
async def get_dossier_slip(
    receipt_code: Annotated[
        str,
        Path(
            description="the code on the receipt (case and dashes optional)",
            max_length=40,
            examples=[RECEIPT_CODE],
        ),
    ],
    principal: SlipPrinter,
    slips: SlipService,
) -> Response:
    pdf = await slips.pdf(receipt_code, principal)
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            # The applicant's name is on it: no cache on the way may keep a copy.
            "Cache-Control": "no-store",
            "Content-Disposition": 'inline; filename="giay-tiep-nhan.pdf"',
        },
    )
