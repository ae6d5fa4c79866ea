"""Documents: uploaded before the submission that names them, read under audit.

``POST /v1/documents`` takes the file itself as the raw request body (its media type in
``Content-Type``, its name in ``?name=``), streamed into the store; a submission's
attachment then names it by SHA-256. ``GET /v1/dossiers/{code}/documents/{id}`` serves
one of a dossier's documents to the citizen holding its receipt code and second factor,
``GET /v1/officer/dossiers/{code}/documents/{id}`` to an officer of its agency or the
desk, every read audited; anyone else gets the 404 of an unknown dossier.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from chassis.openapi import AUTH_PROBLEMS, BODY_PROBLEMS, headers, problem_responses
from chassis.problems import SERVICE_UNAVAILABLE, TOO_MANY_REQUESTS, VALIDATION_FAILED
from intake.api.deps import Caller, DocumentReader, DocumentService, PerIpLimit, client_ip
from intake.api.models import RECEIPT_CODE, DocumentOut
from intake.domain.documents import content_disposition, etag
from intake.problems import (
    DOCUMENT_REFUSED,
    DOCUMENT_TOO_LARGE,
    DOSSIER_NOT_FOUND,
    RANGE_NOT_SATISFIABLE,
    SECOND_FACTOR_REQUIRED,
    SERVICE_NOT_CONFIGURED,
)
from intake.service import SecondFactor
from intake.service.documents import Download

__all__ = ["UPLOAD_PATH", "router"]

router = APIRouter(prefix="/v1", tags=["documents"])

UPLOAD_PATH = "/v1/documents"
_MEDIA_TYPE = re.compile(r"^[a-z]+/[a-z0-9.+-]+$")
_FILE_NAME = r"^[^/\\\x00-\x1f\x7f]+$"


@router.post(
    "/documents",
    status_code=201,
    response_model=DocumentOut,
    summary="Upload a document for a submission or a supplement",
    description=(
        "The request body is the file itself, streamed (not multipart), with its media "
        "type in `Content-Type`. The type is checked against the file's own bytes; a PDF "
        "carrying JavaScript, a launch or automatic action, embedded files or encryption "
        "is refused. Identical bytes are stored once: uploading them again answers the "
        "stored document. Name it in the submission's attachment by its `sha256`; an "
        "upload no submission names is deleted after a day."
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "The file's bytes",
            "content": {
                "application/pdf": {
                    "schema": {"type": "string", "format": "binary"},
                    "example": "%PDF-1.7 … (the scan's bytes)",
                },
                "image/jpeg": {
                    "schema": {"type": "string", "format": "binary"},
                    "example": "\u00ff\u00d8\u00ff … (the photo's bytes)",
                },
                "image/png": {
                    "schema": {"type": "string", "format": "binary"},
                    "example": "\u0089PNG … (the image's bytes)",
                },
            },
        }
    },
    response_description="Stored: the new document",
    responses={
        200: {
            "model": DocumentOut,
            "description": "The same bytes were stored already: that document",
            "headers": headers("Cache-Control"),
        },
        201: {"headers": headers("Cache-Control")},
        **problem_responses(
            *AUTH_PROBLEMS,
            TOO_MANY_REQUESTS,
            *BODY_PROBLEMS,
            DOCUMENT_TOO_LARGE,
            DOCUMENT_REFUSED,
            SERVICE_UNAVAILABLE,
        ),
    },
)
async def upload_document(
    request: Request,
    principal: Caller,
    documents: DocumentService,
    name: Annotated[
        str,
        Query(
            min_length=1,
            max_length=255,
            pattern=_FILE_NAME,
            description="The file's name, as the applicant knows it",
            examples=["don-dang-ky.pdf"],
        ),
    ],
    content_type: Annotated[str | None, Header(alias="Content-Type")] = None,
) -> JSONResponse:
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if not _MEDIA_TYPE.fullmatch(media_type):
        raise VALIDATION_FAILED(
            "send the file's media type in Content-Type",
            errors=[{"pointer": "header:/Content-Type", "detail": "missing or malformed"}],
        )
    stored = await documents.upload(
        request.stream(), name=name, media_type=media_type, principal=principal
    )
    body = DocumentOut(
        document_id=stored.document_id,
        sha256=stored.sha256,
        size=stored.size,
        media_type=stored.media_type,
    )
    return JSONResponse(
        body.model_dump(mode="json"),
        status_code=200 if stored.deduplicated else 201,
        headers={"Cache-Control": "no-store"},
    )


_DOWNLOAD_HEADERS = {
    "ETag": {
        "description": "The document's SHA-256 as a strong entity tag",
        "schema": {"type": "string"},
    },
    "Content-Disposition": {
        "description": "`attachment` with the file's name (RFC 6266)",
        "schema": {"type": "string"},
    },
    "Accept-Ranges": {"description": "`bytes`", "schema": {"type": "string"}},
    "Content-Range": {
        "description": "The bytes sent, of how many (206)",
        "schema": {"type": "string"},
    },
}


_DOWNLOAD_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The document",
        "content": {
            "application/octet-stream": {
                "schema": {"type": "string", "format": "binary"},
                "example": "%PDF-1.7 … (the document's bytes, in its own media type)",
            }
        },
        "headers": _DOWNLOAD_HEADERS,
    },
    206: {"description": "The range asked for", "headers": _DOWNLOAD_HEADERS},
    304: {"description": "The caller's copy is current"},
}
ReceiptCode = Annotated[str, Path(description="the code on the receipt", examples=[RECEIPT_CODE])]
DocumentId = Annotated[
    str, Path(max_length=64, description="the document's id (from its upload or the event)")
]
RangeHeader = Annotated[
    str | None, Header(alias="Range", description="one byte range: `bytes=0-1023`")
]
IfNoneMatch = Annotated[
    str | None, Header(alias="If-None-Match", description="the ETag of the caller's copy")
]


@router.get(
    "/dossiers/{receipt_code}/documents/{document_id}",
    summary="Download one of the citizen's own documents",
    description=(
        "The dossier's attachments and its signed result, for the citizen with the "
        "receipt's follow-up secret or the applicant's phone number. An unknown code, a "
        "wrong second factor and a document of another dossier get the same 404. One "
        "byte range (`Range: bytes=0-1023`) is served as 206; `If-None-Match` with the "
        "ETag as 304."
    ),
    response_class=Response,
    responses={
        **_DOWNLOAD_RESPONSES,
        **problem_responses(
            SECOND_FACTOR_REQUIRED,
            DOSSIER_NOT_FOUND,
            RANGE_NOT_SATISFIABLE,
            TOO_MANY_REQUESTS,
            SERVICE_NOT_CONFIGURED,
            SERVICE_UNAVAILABLE,
        ),
    },
)
async def download_own_document(
    request: Request,
    receipt_code: ReceiptCode,
    document_id: DocumentId,
    documents: DocumentService,
    per_ip: PerIpLimit,
    secret: Annotated[
        str | None,
        Header(alias="X-Follow-Up-Secret", description="the secret from the receipt"),
    ] = None,
    phone: Annotated[
        str | None,
        Header(alias="X-Applicant-Phone", description="or the applicant's phone number"),
    ] = None,
    range_header: RangeHeader = None,
    if_none_match: IfNoneMatch = None,
) -> Response:
    await per_ip.enforce(client_ip(request))
    download = await documents.for_citizen(
        receipt_code, document_id, SecondFactor(secret, phone), range_header, if_none_match
    )
    return _response(download)


@router.get(
    "/officer/dossiers/{receipt_code}/documents/{document_id}",
    summary="Read one of a dossier's documents, audited",
    description=(
        "For an officer or leader of the dossier's agency, or the one-stop desk. Every "
        "read is published as `dossier.document-read` (who, which dossier and document, "
        "when, which range) before a byte is sent, so the audit log holds it; if it cannot "
        "be published, nothing is sent. Another agency's dossier, an unknown code and a "
        "document of another dossier get the same 404. Ranges and ETag as for the citizen."
    ),
    response_class=Response,
    responses={
        **_DOWNLOAD_RESPONSES,
        **problem_responses(
            *AUTH_PROBLEMS,
            TOO_MANY_REQUESTS,
            DOSSIER_NOT_FOUND,
            RANGE_NOT_SATISFIABLE,
            SERVICE_UNAVAILABLE,
        ),
    },
)
async def read_dossier_document(
    receipt_code: ReceiptCode,
    document_id: DocumentId,
    principal: DocumentReader,
    documents: DocumentService,
    range_header: RangeHeader = None,
    if_none_match: IfNoneMatch = None,
) -> Response:
    download = await documents.for_officer(
        receipt_code, document_id, principal, range_header, if_none_match
    )
    return _response(download)


def _response(download: Download) -> Response:
    document = download.document
    size = int(document["size"])
    common = {
        "ETag": etag(document["sha256"]),
        "Cache-Control": "private, no-cache",
        "Accept-Ranges": "bytes",
    }
    if download.chunks is None:
        return Response(status_code=304, headers=common)
    answer = {
        **common,
        "Content-Disposition": content_disposition(document["name"]),
        "X-Content-Type-Options": "nosniff",
    }
    wanted = download.byte_range
    if wanted is None:
        answer["Content-Length"] = str(size)
        status = 200
    else:
        answer["Content-Length"] = str(wanted.length)
        answer["Content-Range"] = f"bytes {wanted.start}-{wanted.end}/{size}"
        status = 206
    return StreamingResponse(
        download.chunks, status_code=status, media_type=document["media_type"], headers=answer
    )
