"""Who may call what: the table the permission tests hold the services to.

Written out by hand, route by route and caller by caller, rather than read from the code,
so that a change of access shows up as a change of this table. Each route also has one
concrete request (`REQUESTS`) whose answer tells allowed from refused: for an allowed
caller a state-changing request carries a stale If-Match or targets a dossier already
settled, so it is refused for a reason other than access and changes nothing.

Columns, in order:

  anon   no token at all             officer_b  officer of agency B
  exp    an expired token            leader_a   leader of agency A
  forged a token signed with         inspector  officer of the inspectorate with
         another secret                         identity:resolve (denunciations)
  portal a portal client             auditor    auditor without clearance
  offA   officer of agency A         auditorP   auditor with audit:pii
  offAc  officer of agency A with    operator   operator
         identity:resolve            desk       the one-stop desk (STNMT-VP)
                                     hotline    the hotline officer
"""

# ruff: noqa: E501 - the table keeps one route per line, whatever its width

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chassis.auth import mint_token, new_signing_key
from tests.fuzz.fuzz_platform import (
    AGENCY_A,
    AGENCY_B,
    INSPECTORATE,
    RunningPlatform,
    Seeded,
    attachment,
    waste_registration,
)
from tests.support.documents import sample_pdf

PRINCIPALS = (
    "anon",
    "exp",
    "forged",
    "portal",
    "offA",
    "offAc",
    "officer_b",
    "leader_a",
    "inspector",
    "auditor",
    "auditorP",
    "operator",
    "desk",
    "hotline",
)

# service  method  path[#variant]                                anon exp forged portal offA offAc officer_b leader_a inspector auditor auditorP operator desk hotline
TABLE = """
intake        GET   /healthz                                       200 200 200 200 200 200 200 200 200 200 200 200 200 200
intake        GET   /readyz                                        200 200 200 200 200 200 200 200 200 200 200 200 200 200
intake        GET   /metrics                                       200 200 200 200 200 200 200 200 200 200 200 200 200 200
intake        GET   /v1/catalogue                                  200 200 200 200 200 200 200 200 200 200 200 200 200 200
intake        GET   /v1/procedures                                 200 200 200 200 200 200 200 200 200 200 200 200 200 200
intake        GET   /v1/procedures/{code}                          200 200 200 200 200 200 200 200 200 200 200 200 200 200
intake        POST  /v1/dossiers#online                            401 401 401 202 403 403 403 403 403 403 403 403 403 403
intake        POST  /v1/dossiers#counter                           401 401 401 403 202 202 403 202 403 403 403 403 202 403
intake        POST  /v1/dossiers#post                              401 401 401 403 202 202 403 202 403 403 403 403 202 403
intake        POST  /v1/dossiers#phone                             401 401 401 403 403 403 403 403 403 403 403 403 403 202
intake        GET   /v1/dossiers/{receipt_code}/status             200 200 200 200 200 200 200 200 200 200 200 200 200 200
intake        POST  /v1/documents                                  401 401 401 200 200 200 200 200 200 403 403 403 200 200
intake        GET   /v1/dossiers/{receipt_code}/documents/{document_id} 200 200 200 200 200 200 200 200 200 200 200 200 200 200
intake        GET   /v1/officer/dossiers/{receipt_code}/documents/{document_id} 401 401 401 403 200 200 404 200 404 403 403 403 200 403
intake        GET   /v1/dossiers/{receipt_code}/slip.pdf           401 401 401 403 200 200 404 200 404 403 403 403 200 403
intake        POST  /v1/dossiers/{receipt_code}/supplements        409 409 409 409 409 409 409 409 409 409 409 409 409 409
intake        POST  /v1/dossiers/{receipt_code}/withdrawal         409 409 409 409 409 409 409 409 409 409 409 409 409 409
intake        GET   /v1/identities/{pseudonym}                     401 401 401 403 403 404 403 403 200 403 403 403 403 403
processing    GET   /healthz                                       200 200 200 200 200 200 200 200 200 200 200 200 200 200
processing    GET   /readyz                                        200 200 200 200 200 200 200 200 200 200 200 200 200 200
processing    GET   /metrics                                       200 200 200 200 200 200 200 200 200 200 200 200 200 200
processing    GET   /v1/officer/queue                              401 401 401 403 200 200 200 200 200 403 403 403 403 403
processing    POST  /v1/officer/dossiers/search                    401 401 401 403 200 200 200 200 200 403 403 403 403 403
processing    GET   /v1/officer/dossiers/{dossier_id}              401 401 401 403 200 200 403 200 403 403 403 403 403 403
processing    POST  /v1/officer/dossiers/{dossier_id}/actions      401 401 401 403 412 412 403 412 403 403 403 403 403 403
processing    POST  /v1/officer/dossiers/{dossier_id}/claim        401 401 401 403 412 412 403 412 403 403 403 403 403 403
processing    PUT   /v1/officer/dossiers/{dossier_id}/assignee     401 401 401 403 403 403 403 412 403 403 403 403 403 403
processing    POST  /v1/officer/dossiers/{dossier_id}/notes        401 401 401 403 201 201 403 201 403 403 403 403 403 403
processing    GET   /v1/statistics                                 200 200 200 200 200 200 200 200 200 200 200 200 200 200
processing    POST  /v1/ops/deadline-scan                          401 401 401 403 403 403 403 403 403 403 403 200 403 403
notification  GET   /healthz                                       200 200 200 200 200 200 200 200 200 200 200 200 200 200
notification  GET   /readyz                                        200 200 200 200 200 200 200 200 200 200 200 200 200 200
notification  GET   /metrics                                       200 200 200 200 200 200 200 200 200 200 200 200 200 200
notification  GET   /v1/deliveries                                 401 401 401 403 403 403 403 403 403 403 403 200 403 403
notification  GET   /v1/deliveries/{delivery_id}                   401 401 401 403 403 403 403 403 403 403 403 200 403 403
notification  POST  /v1/deliveries/{delivery_id}/resend            401 401 401 403 403 403 403 403 403 403 403 409 403 403
notification  GET   /v1/templates                                  401 401 401 403 403 403 403 403 403 403 403 200 403 403
notification  GET   /v1/templates/{event_type}/{language}/{channel}/preview  401 401 401 403 403 403 403 403 403 403 403 200 403 403
audit         GET   /healthz                                       200 200 200 200 200 200 200 200 200 200 200 200 200 200
audit         GET   /readyz                                        200 200 200 200 200 200 200 200 200 200 200 200 200 200
audit         GET   /metrics                                       200 200 200 200 200 200 200 200 200 200 200 200 200 200
audit         GET   /v1/audit/dossiers/{dossier_id}                401 401 401 403 403 403 403 403 403 200 200 403 403 403
audit         GET   /v1/audit/entries                              401 401 401 403 403 403 403 403 403 200 200 403 403 403
audit         GET   /v1/audit/entries.ndjson                       401 401 401 403 403 403 403 403 403 200 200 403 403 403
audit         GET   /v1/audit/entries.csv                          401 401 401 403 403 403 403 403 403 200 200 403 403 403
audit         GET   /v1/audit/checkpoints                          401 401 401 403 403 403 403 403 403 200 200 403 403 403
audit         GET   /v1/audit/checkpoints/latest                   401 401 401 403 403 403 403 403 403 200 200 403 403 403
audit         GET   /v1/audit/checkpoints.ndjson                   401 401 401 403 403 403 403 403 403 200 200 403 403 403
audit         GET   /v1/audit/proofs/inclusion                     401 401 401 403 403 403 403 403 403 200 200 403 403 403
audit         GET   /v1/audit/proofs/consistency                   401 401 401 403 403 403 403 403 403 200 200 403 403 403
audit         GET   /v1/audit/verify                               401 401 401 403 403 403 403 403 403 200 200 403 403 403
audit         POST  /v1/audit/verify                               401 401 401 403 403 403 403 403 403 200 200 403 403 403
audit         GET   /v1/audit/public-key                           200 200 200 200 200 200 200 200 200 200 200 200 200 200
audit         GET   /v1/audit/public-key.pem                       200 200 200 200 200 200 200 200 200 200 200 200 200 200
audit         POST  /v1/documents/verify                           422 422 422 422 422 422 422 422 422 422 422 422 422 422
"""

# The one-stop desk's unit: it receives dossiers for every unit (agency A's among them).
DESK_UNIT = "STNMT-VP"

# Routes left out of the OpenAPI documents on purpose, still classified above.
UNDOCUMENTED = frozenset({"/metrics"})


@dataclass(frozen=True)
class Row:
    service: str
    method: str
    path: str
    variant: str

    @property
    def route(self) -> tuple[str, str, str]:
        return self.service, self.method, self.path

    def __str__(self) -> str:
        variant = f" ({self.variant})" if self.variant else ""
        return f"{self.service} {self.method} {self.path}{variant}"


def parse_table() -> dict[Row, dict[str, int]]:
    matrix: dict[Row, dict[str, int]] = {}
    for line in TABLE.strip().splitlines():
        service, method, target, *codes = line.split()
        path, _, variant = target.partition("#")
        assert len(codes) == len(PRINCIPALS), line
        row = Row(service, method, path, variant)
        assert row not in matrix, f"{row} twice in the table"
        matrix[row] = dict(zip(PRINCIPALS, map(int, codes), strict=True))
    return matrix


MATRIX = parse_table()


# --------------------------------------------------------------------------- callers


def credentials(platform: RunningPlatform, principal: str) -> dict[str, str]:
    secret = platform.jwt_secret
    tokens: dict[str, Callable[[], str]] = {
        "exp": lambda: mint_token(secret, "late-user", ["officer"], agency=AGENCY_A, ttl_s=-120),
        # Well-formed and signed, but by a key the services do not trust.
        "forged": lambda: mint_token(
            new_signing_key(), "intruder", ["operator", "auditor", "leader"]
        ),
        "portal": lambda: mint_token(secret, "portal-1", ["portal"]),
        "offA": lambda: mint_token(secret, "officer-a", ["officer"], agency=AGENCY_A),
        "offAc": lambda: mint_token(
            secret, "officer-a2", ["officer"], agency=AGENCY_A, scopes=["identity:resolve"]
        ),
        "officer_b": lambda: mint_token(secret, "officer-b", ["officer"], agency=AGENCY_B),
        "leader_a": lambda: mint_token(secret, "leader-a", ["leader"], agency=AGENCY_A),
        "inspector": lambda: mint_token(
            secret, "inspector-1", ["officer"], agency=INSPECTORATE, scopes=["identity:resolve"]
        ),
        "auditor": lambda: mint_token(secret, "auditor-1", ["auditor"]),
        "auditorP": lambda: mint_token(secret, "auditor-2", ["auditor"], scopes=["audit:pii"]),
        "operator": lambda: mint_token(secret, "operator-1", ["operator"]),
        "desk": lambda: mint_token(secret, "desk-1", ["desk"], agency=DESK_UNIT),
        "hotline": lambda: mint_token(secret, "hotline-1", ["hotline"], agency=DESK_UNIT),
    }
    if principal == "anon":
        return {}
    return {"Authorization": f"Bearer {tokens[principal]()}"}


# --------------------------------------------------------------------------- requests


@dataclass
class Call:
    method: str
    path: str
    params: dict[str, Any] = field(default_factory=dict)
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    # A raw body (a file upload), sent instead of ``json``.
    content: bytes | None = None
    # Path parameters by name, for the injection tests to replace.
    path_params: dict[str, str] = field(default_factory=dict)


def _counter_registration(channel: str = "counter") -> dict[str, Any]:
    body = waste_registration(f"{channel}.applicant@example.vn")
    body["channel"] = channel
    return body


def _phone_petition() -> dict[str, Any]:
    """A petition the hotline officer takes by phone: the caller's number is the contact."""
    return {
        "procedure_code": "PAKN-001",
        "channel": "phone",
        "applicant": {
            "type": "person",
            "name": "Lê Thị Hoa",
            "id_number": "001199004321",
            "phone": "0987 654 321",
        },
        "form": {"subject": "Khói bụi ban đêm", "content": "Bãi cát tổ 5 gây bụi."},
        "content": "Đề nghị Sở kiểm tra.",
    }


STALE = {"If-Match": '"999999"'}


def requests_for(seeded: Seeded) -> dict[Row, Call]:
    """One request per row; built fresh for every caller (submissions must not repeat)."""
    received = seeded.received
    finished = seeded.finished
    follow_up = {"X-Follow-Up-Secret": finished.follow_up_secret}
    dossier = received.dossier_id
    preview = "/v1/templates/dossier.status-changed.v1/vi/email/preview"
    calls: dict[tuple[str, str, str, str], Call] = {
        ("intake", "GET", "/v1/catalogue", ""): Call("GET", "/v1/catalogue"),
        ("intake", "GET", "/v1/procedures", ""): Call(
            "GET", "/v1/procedures", {"kind": "procedure"}
        ),
        ("intake", "GET", "/v1/procedures/{code}", ""): Call(
            "GET", "/v1/procedures/MT-004", path_params={"code": "MT-004"}
        ),
        ("intake", "POST", "/v1/dossiers", "online"): Call(
            "POST", "/v1/dossiers", json=waste_registration("online.applicant@example.vn")
        ),
        ("intake", "POST", "/v1/dossiers", "counter"): Call(
            "POST", "/v1/dossiers", json=_counter_registration()
        ),
        ("intake", "POST", "/v1/dossiers", "post"): Call(
            "POST", "/v1/dossiers", json=_counter_registration("post")
        ),
        ("intake", "POST", "/v1/dossiers", "phone"): Call(
            "POST", "/v1/dossiers", json=_phone_petition()
        ),
        ("intake", "GET", "/v1/dossiers/{receipt_code}/slip.pdf", ""): Call(
            "GET",
            f"/v1/dossiers/{received.receipt_code}/slip.pdf",
            path_params={"receipt_code": received.receipt_code},
        ),
        # The seeded sample again: stored already, so answered 200 and nothing is added.
        ("intake", "POST", "/v1/documents", ""): Call(
            "POST",
            "/v1/documents",
            {"name": "application_form.pdf"},
            headers={"Content-Type": "application/pdf"},
            content=sample_pdf("hoso sample: application_form"),
        ),
        # The citizen's door: the follow-up secret opens it, a token changes nothing.
        ("intake", "GET", "/v1/dossiers/{receipt_code}/documents/{document_id}", ""): Call(
            "GET",
            f"/v1/dossiers/{received.receipt_code}/documents/{seeded.document_id}",
            headers={"X-Follow-Up-Secret": received.follow_up_secret},
            path_params={
                "receipt_code": received.receipt_code,
                "document_id": seeded.document_id,
            },
        ),
        # The officers' door: the dossier's unit and the desk (which receives for all).
        (
            "intake",
            "GET",
            "/v1/officer/dossiers/{receipt_code}/documents/{document_id}",
            "",
        ): Call(
            "GET",
            f"/v1/officer/dossiers/{received.receipt_code}/documents/{seeded.document_id}",
            path_params={
                "receipt_code": received.receipt_code,
                "document_id": seeded.document_id,
            },
        ),
        ("intake", "GET", "/v1/dossiers/{receipt_code}/status", ""): Call(
            "GET",
            f"/v1/dossiers/{received.receipt_code}/status",
            headers={"X-Follow-Up-Secret": received.follow_up_secret},
            path_params={"receipt_code": received.receipt_code},
        ),
        ("intake", "POST", "/v1/dossiers/{receipt_code}/supplements", ""): Call(
            "POST",
            f"/v1/dossiers/{finished.receipt_code}/supplements",
            json={"attachments": [attachment("application_form")], "note": "bổ sung"},
            headers=follow_up,
            path_params={"receipt_code": finished.receipt_code},
        ),
        ("intake", "POST", "/v1/dossiers/{receipt_code}/withdrawal", ""): Call(
            "POST",
            f"/v1/dossiers/{finished.receipt_code}/withdrawal",
            json={"reason": "không cần nữa"},
            headers=follow_up,
            path_params={"receipt_code": finished.receipt_code},
        ),
        ("intake", "GET", "/v1/identities/{pseudonym}", ""): Call(
            "GET",
            f"/v1/identities/{seeded.pseudonym}",
            path_params={"pseudonym": seeded.pseudonym},
        ),
        ("processing", "GET", "/v1/officer/queue", ""): Call(
            "GET", "/v1/officer/queue", {"sort": "received", "limit": 50}
        ),
        ("processing", "POST", "/v1/officer/dossiers/search", ""): Call(
            "POST", "/v1/officer/dossiers/search", json={"statuses": ["received"], "limit": 10}
        ),
        ("processing", "GET", "/v1/officer/dossiers/{dossier_id}", ""): Call(
            "GET", f"/v1/officer/dossiers/{dossier}", path_params={"dossier_id": dossier}
        ),
        ("processing", "POST", "/v1/officer/dossiers/{dossier_id}/actions", ""): Call(
            "POST",
            f"/v1/officer/dossiers/{dossier}/actions",
            json={"action": "start_review"},
            headers=STALE,
            path_params={"dossier_id": dossier},
        ),
        ("processing", "POST", "/v1/officer/dossiers/{dossier_id}/claim", ""): Call(
            "POST",
            f"/v1/officer/dossiers/{dossier}/claim",
            headers=STALE,
            path_params={"dossier_id": dossier},
        ),
        ("processing", "PUT", "/v1/officer/dossiers/{dossier_id}/assignee", ""): Call(
            "PUT",
            f"/v1/officer/dossiers/{dossier}/assignee",
            json={"officer_id": "officer-a"},
            headers=STALE,
            path_params={"dossier_id": dossier},
        ),
        ("processing", "POST", "/v1/officer/dossiers/{dossier_id}/notes", ""): Call(
            "POST",
            f"/v1/officer/dossiers/{dossier}/notes",
            json={"text": "Đã kiểm tra hồ sơ gốc."},
            path_params={"dossier_id": dossier},
        ),
        ("processing", "GET", "/v1/statistics", ""): Call(
            "GET", "/v1/statistics", {"agency": AGENCY_A}
        ),
        ("processing", "POST", "/v1/ops/deadline-scan", ""): Call("POST", "/v1/ops/deadline-scan"),
        ("notification", "GET", "/v1/deliveries", ""): Call(
            "GET", "/v1/deliveries", {"dossier_id": dossier, "limit": 10}
        ),
        ("notification", "GET", "/v1/deliveries/{delivery_id}", ""): Call(
            "GET",
            f"/v1/deliveries/{seeded.delivery_id}",
            path_params={"delivery_id": seeded.delivery_id},
        ),
        ("notification", "POST", "/v1/deliveries/{delivery_id}/resend", ""): Call(
            "POST",
            f"/v1/deliveries/{seeded.delivery_id}/resend",
            path_params={"delivery_id": seeded.delivery_id},
        ),
        ("notification", "GET", "/v1/templates", ""): Call("GET", "/v1/templates"),
        (
            "notification",
            "GET",
            "/v1/templates/{event_type}/{language}/{channel}/preview",
            "",
        ): Call(
            "GET",
            preview,
            {"status": "received"},
            path_params={
                "event_type": "dossier.status-changed.v1",
                "language": "vi",
                "channel": "email",
            },
        ),
        ("audit", "GET", "/v1/audit/dossiers/{dossier_id}", ""): Call(
            "GET", f"/v1/audit/dossiers/{dossier}", path_params={"dossier_id": dossier}
        ),
        ("audit", "GET", "/v1/audit/entries", ""): Call(
            "GET", "/v1/audit/entries", {"dossier_id": dossier, "limit": 10}
        ),
        ("audit", "GET", "/v1/audit/entries.ndjson", ""): Call(
            "GET", "/v1/audit/entries.ndjson", {"dossier_id": dossier}
        ),
        ("audit", "GET", "/v1/audit/entries.csv", ""): Call(
            "GET", "/v1/audit/entries.csv", {"dossier_id": dossier}
        ),
        ("audit", "GET", "/v1/audit/checkpoints", ""): Call("GET", "/v1/audit/checkpoints"),
        ("audit", "GET", "/v1/audit/checkpoints/latest", ""): Call(
            "GET", "/v1/audit/checkpoints/latest"
        ),
        ("audit", "GET", "/v1/audit/checkpoints.ndjson", ""): Call(
            "GET", "/v1/audit/checkpoints.ndjson"
        ),
        ("audit", "GET", "/v1/audit/proofs/inclusion", ""): Call(
            "GET", "/v1/audit/proofs/inclusion", {"seq": 1}
        ),
        ("audit", "GET", "/v1/audit/proofs/consistency", ""): Call(
            "GET", "/v1/audit/proofs/consistency", {"first": seeded.checkpoint_size}
        ),
        ("audit", "GET", "/v1/audit/verify", ""): Call("GET", "/v1/audit/verify", {"from_seq": 1}),
        ("audit", "POST", "/v1/audit/verify", ""): Call(
            "POST", "/v1/audit/verify", json={"from_seq": 1}
        ),
        # Public: anyone gets a verdict; JSON instead of a PDF is refused the same for all.
        ("audit", "POST", "/v1/documents/verify", ""): Call(
            "POST", "/v1/documents/verify", json={"pdf": "not a PDF"}
        ),
    }
    built = {Row(*key): call for key, call in calls.items()}
    for row in MATRIX:
        if row not in built and row.path in {"/healthz", "/readyz", "/metrics"}:
            built[row] = Call(row.method, row.path)
        if row not in built and row.path.startswith("/v1/audit/public-key"):
            built[row] = Call(row.method, row.path)
    return built
