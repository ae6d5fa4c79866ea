"""Every route of every service × every kind of caller, against the hand-written table."""

from __future__ import annotations

import httpx

from tests.fuzz.fuzz_platform import AGENCY_A, AGENCY_B, RunningPlatform, Seeded
from tests.permissions.permission_table import (
    MATRIX,
    PRINCIPALS,
    UNDOCUMENTED,
    credentials,
    requests_for,
)
from tests.support.services import SERVICES


async def test_every_documented_route_is_in_the_table(
    permission_platform: RunningPlatform,
) -> None:
    documented: set[tuple[str, str, str]] = set()
    async with httpx.AsyncClient(timeout=30) as client:
        for service in SERVICES:
            response = await client.get(f"{permission_platform.url(service)}/openapi.json")
            assert response.status_code == 200, response.text
            for path, operations in response.json()["paths"].items():
                documented |= {(service, method.upper(), path) for method in operations}
    in_table = {row.route for row in MATRIX}
    unclassified = sorted(documented - in_table)
    assert not unclassified, f"routes nobody has classified yet, add them to TABLE: {unclassified}"
    gone = sorted(r for r in in_table - documented if r[2] not in UNDOCUMENTED)
    assert not gone, f"TABLE names routes the services no longer have: {gone}"


async def test_each_caller_gets_exactly_what_the_table_says(
    permission_platform: RunningPlatform, permission_seeded: Seeded
) -> None:
    wrong: list[str] = []
    async with httpx.AsyncClient(timeout=30) as client:
        for principal in PRINCIPALS:
            # Built afresh per caller: each accepted submission is a new dossier.
            calls = requests_for(permission_seeded)
            for row, expected in MATRIX.items():
                call = calls[row]
                response = await client.request(
                    call.method,
                    permission_platform.url(row.service) + call.path,
                    params=call.params,
                    json=call.json,
                    content=call.content,
                    headers=call.headers | credentials(permission_platform, principal),
                )
                want = expected[principal]
                if response.status_code != want:
                    wrong.append(
                        f"{row} as {principal}: {response.status_code}, table says {want}: "
                        f"{response.text[:160]}"
                    )
                    continue
                if want in (401, 403):
                    content_type = response.headers.get("content-type", "")
                    if not content_type.startswith("application/problem+json"):
                        wrong.append(f"{row} as {principal}: {want} as {content_type}")
                challenge = response.headers.get("www-authenticate", "")
                if want == 401 and challenge.lower() != "bearer":
                    wrong.append(f"{row} as {principal}: 401 without WWW-Authenticate: Bearer")
    assert not wrong, f"{len(wrong)} answer(s) differ from the table:\n" + "\n".join(wrong)


async def test_another_agency_never_sees_the_dossier_in_its_queue(
    permission_platform: RunningPlatform, permission_seeded: Seeded
) -> None:
    dossier = permission_seeded.received.dossier_id
    async with httpx.AsyncClient(timeout=30) as client:
        seen: dict[str, set[str]] = {}
        for agency in (AGENCY_A, AGENCY_B):
            token = permission_platform.token(f"queue-{agency}", "officer", agency=agency)
            response = await client.get(
                f"{permission_platform.url('processing')}/v1/officer/queue",
                params={"sort": "received", "limit": 100},
                headers=token,
            )
            assert response.status_code == 200, response.text
            seen[agency] = {item["dossier_id"] for item in response.json()["items"]}
    assert dossier in seen[AGENCY_A]
    assert dossier not in seen[AGENCY_B]


async def test_personal_data_in_the_audit_log_only_with_clearance(
    permission_platform: RunningPlatform, permission_seeded: Seeded
) -> None:
    """The seeded applicant's email and name are in the log, readable only with audit:pii."""
    received = permission_seeded.received
    url = f"{permission_platform.url('audit')}/v1/audit/dossiers/{received.dossier_id}"
    async with httpx.AsyncClient(timeout=30) as client:
        plain = await client.get(url, headers=credentials(permission_platform, "auditor"))
        cleared = await client.get(url, headers=credentials(permission_platform, "auditorP"))
    assert plain.status_code == cleared.status_code == 200
    assert plain.json()["entries"], "the seeded dossier has no audit trail"
    for secret_text in ("seed.received@example.vn", "Trần Thị Bình", "001199012345"):
        assert secret_text not in plain.text, f"{secret_text!r} shown without clearance"
    assert "seed.received@example.vn" in cleared.text
    assert "Trần Thị Bình" in cleared.text
