"""The auditors' query API and exports: filters, keyset pagination while the log grows,
strict parameters, streamed NDJSON and CSV, and personal data only with clearance."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from audit.cli import main as cli
from chassis.kafka import EventPublisher
from tests.integration.audit.conftest import (
    CITIZEN_ID,
    AuditService,
    new_dossier_id,
    status_changed,
    submitted,
    wait_for_checkpoint,
    wait_for_entries,
)
from tests.support.tokens import bearer

pytestmark = pytest.mark.integration

# A CCCD standing on its own, as in a form field or a sentence.
TWELVE_DIGITS = re.compile(r"(?<![0-9A-Za-z])\d{12}(?![0-9A-Za-z])")
# Hashes, trace ids and uuids are hex: long runs of digits occur in them by chance.
HEX_TOKENS = re.compile(
    r"\b[0-9a-f]{32,}\b|\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"
)


def shows_a_citizen_id(text: str) -> bool:
    return CITIZEN_ID in text or TWELVE_DIGITS.search(HEX_TOKENS.sub("", text)) is not None


async def get(
    http: httpx.AsyncClient, audit: AuditService, path: str, *, cleared: bool = False, **params: Any
) -> httpx.Response:
    return await http.get(
        f"{audit.url}/v1/audit{path}", params=params, headers=audit.auditor(cleared=cleared)
    )


async def test_pagination_returns_every_entry_once_while_appends_go_on(
    audit: AuditService, publisher: EventPublisher, http: httpx.AsyncClient
) -> None:
    start = (await get(http, audit, "/verify")).json()["tree_size"]
    dossiers = [new_dossier_id() for _ in range(4)]
    published: list[str] = []

    async def keep_appending() -> None:
        for round_no in range(8):
            batch = [
                status_changed(d, f"r{round_no}", f"r{round_no + 1}", version=round_no + 1)
                for d in dossiers
            ]
            await publisher.publish_many(batch, keys=dossiers)
            published.extend(e.id for e in batch)
            await asyncio.sleep(0.15)

    appending = asyncio.create_task(keep_appending())
    seen: list[dict[str, Any]] = []
    # Page to the end, then ask again after the last entry read: how a reader follows it.
    after, cursor = start, None
    while True:
        params: dict[str, Any] = {"after_seq": after, "limit": 5}
        if cursor is not None:
            params["cursor"] = cursor
        response = await get(http, audit, "/entries", **params)
        assert response.status_code == 200, response.text
        body = response.json()
        seen.extend(body["entries"])
        cursor = body["next_cursor"]
        if cursor is not None:
            assert body["entries"], body
            assert f"cursor={cursor}" in response.headers["link"]
            continue
        assert "link" not in response.headers
        after = seen[-1]["seq"] if seen else start
        if appending.done() and len(seen) >= len(published):
            break
        await asyncio.sleep(0.1)
    await appending

    seqs = [e["seq"] for e in seen]
    assert seqs == list(range(start + 1, start + 1 + len(published)))
    assert sorted(e["event_id"] for e in seen) == sorted(published)


async def test_filters_select_by_dossier_actor_type_and_time(
    audit: AuditService, publisher: EventPublisher, http: httpx.AsyncClient
) -> None:
    dossier = new_dossier_id()
    events = [
        submitted(dossier),
        status_changed(dossier, "submitted", "received", version=2, officer="officer:filter-a"),
        status_changed(dossier, "received", "in_review", version=3, officer="officer:filter-b"),
        status_changed(dossier, "in_review", "approved", version=4, officer="officer:filter-a"),
    ]
    await publisher.publish_many(events, keys=[dossier] * 4)
    trail = await wait_for_entries(http, audit, dossier, 4)

    by_actor = (await get(http, audit, "/entries", actor="officer:filter-a")).json()["entries"]
    assert [e["event_id"] for e in by_actor] == [events[1].id, events[3].id]

    by_type = (
        await get(http, audit, "/entries", dossier_id=dossier, event_type="dossier.submitted.v1")
    ).json()["entries"]
    assert [e["event_id"] for e in by_type] == [events[0].id]

    (third,) = [e for e in trail if e["event_id"] == events[2].id]
    moment = datetime.fromisoformat(third["occurred_at"])
    window = (
        await get(
            http,
            audit,
            "/entries",
            dossier_id=dossier,
            **{"from": moment.isoformat(), "to": (moment + timedelta(microseconds=1)).isoformat()},
        )
    ).json()["entries"]
    assert [e["event_id"] for e in window] == [events[2].id]

    later = (
        await get(
            http,
            audit,
            "/entries",
            dossier_id=dossier,
            **{"from": (datetime.now(UTC) + timedelta(days=1)).isoformat()},
        )
    ).json()
    assert later == {"entries": [], "next_cursor": None}


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/entries", {"dossier_id": '{"$ne": null}'}),
        ("/entries", {"dossier_id": "payload.applicant"}),
        ("/entries", {"actor": "$where"}),
        ("/entries", {"actor": "officer"}),
        ("/entries", {"event_type": "payload.applicant.id_number"}),
        ("/entries", {"event_type": "$gt"}),
        ("/entries", {"dossier_id[$ne]": "x"}),
        ("/entries", {"limit": 0}),
        ("/entries", {"limit": "ten"}),
        ("/entries", {"limit": 10**6}),
        ("/entries", {"after_seq": -1}),
        ("/entries", {"from": "2024-01-01T00:00:00"}),
        ("/entries", {"from": "2024-02-01T00:00:00Z", "to": "2024-01-01T00:00:00Z"}),
        # Valid date-times whose UTC instant falls before year 1 or after 9999 (found by
        # schemathesis).
        ("/entries.csv", {"to": "0001-01-01T00:00:01+04:00"}),
        ("/entries", {"from": "9999-12-31T23:00:00-04:00"}),
        ("/entries", {"dossier_id": "a" * 200}),
        ("/entries.csv", {"to_seq": 0}),
        ("/entries.ndjson", {"view": "everything"}),
        ("/dossiers/$where", {}),
        ("/dossiers/a.b", {}),
        ("/verify", {"from_seq": 5, "to_seq": 2}),
        ("/checkpoints", {"cursor": "x!"}),
        ("/checkpoints", {"cursor": "WyJlbnRyaWVzIiw0Ml0"}),
        ("/entries", {"cursor": "WyJlbnRyaWVzIiwiNDIiXQ"}),
        ("/entries", {"cursor": "WyJlbnRyaWVzIiwtMV0"}),
    ],
)
async def test_bad_parameters_are_refused_as_problems(
    audit: AuditService, http: httpx.AsyncClient, path: str, params: dict[str, Any]
) -> None:
    response = await get(http, audit, path, **params)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["status"] == 422


async def test_a_repeated_parameter_is_refused(
    audit: AuditService, http: httpx.AsyncClient
) -> None:
    response = await http.get(
        f"{audit.url}/v1/audit/entries?limit=1&limit=2", headers=audit.auditor()
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["pointer"] == "query:/limit"


async def test_only_auditors_may_read(
    audit: AuditService, http: httpx.AsyncClient, jwt_secret: str
) -> None:
    anonymous = await http.get(f"{audit.url}/v1/audit/entries")
    assert anonymous.status_code == 401
    officer = bearer(jwt_secret, "cb-07", "officer", agency="STNMT")
    for path in ("/entries", "/entries.ndjson", "/checkpoints", "/verify", "/dossiers/abc"):
        response = await http.get(f"{audit.url}/v1/audit{path}", headers=officer)
        assert response.status_code == 403, path
    # The key that verifies checkpoints is public.
    assert (await http.get(f"{audit.url}/v1/audit/public-key")).status_code == 200


async def test_an_exported_log_verifies_offline_with_the_public_key(
    audit: AuditService, publisher: EventPublisher, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    dossier = new_dossier_id()
    await publisher.publish_many(
        [submitted(dossier), status_changed(dossier, "submitted", "received", version=2)],
        keys=[dossier] * 2,
    )
    entries = await wait_for_entries(http, audit, dossier, 2)
    await wait_for_checkpoint(http, audit, max(e["seq"] for e in entries))

    log_file, checkpoints_file, key_file = (
        tmp_path / "entries.ndjson",
        tmp_path / "checkpoints.ndjson",
        tmp_path / "key.pem",
    )
    exported = await get(http, audit, "/entries.ndjson")
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("application/x-ndjson")
    log_file.write_bytes(exported.content)
    checkpoints_file.write_bytes((await get(http, audit, "/checkpoints.ndjson")).content)
    key_file.write_bytes((await http.get(f"{audit.url}/v1/audit/public-key.pem")).content)
    lines = exported.content.decode().splitlines()
    assert [json.loads(line)["seq"] for line in lines] == list(range(1, len(lines) + 1))

    args = ["verify-export", "--log", str(log_file), "--checkpoints", str(checkpoints_file)]
    args += ["--public-key", str(key_file)]
    out = io.StringIO()
    assert cli(args, out=out, err=io.StringIO()) == 0, out.getvalue()
    assert f"seq 1 to {len(lines)}" in out.getvalue()

    # One changed byte in one entry of the export: the offline check names that entry.
    target = len(lines) // 2
    damaged = json.loads(lines[target - 1])
    damaged["occurred_at"] = damaged["occurred_at"].replace("Z", "+00:00")
    lines[target - 1] = json.dumps(damaged)
    log_file.write_text("\n".join(lines) + "\n")
    out = io.StringIO()
    assert cli(args, out=out, err=io.StringIO()) == 1
    assert f"seq {target}: entry edited (hash mismatch)" in out.getvalue()


async def test_csv_export_has_one_row_per_entry(
    audit: AuditService, publisher: EventPublisher, http: httpx.AsyncClient
) -> None:
    dossier = new_dossier_id()
    events = [submitted(dossier), status_changed(dossier, "submitted", "received", version=2)]
    await publisher.publish_many(events, keys=[dossier] * 2)
    await wait_for_entries(http, audit, dossier, 2)

    response = await get(http, audit, "/entries.csv", dossier_id=dossier)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert sorted(r["event_id"] for r in rows) == sorted(e.id for e in events)
    assert [int(r["seq"]) for r in rows] == sorted(int(r["seq"]) for r in rows)
    row = {r["event_type"]: r for r in rows}
    assert json.loads(row["dossier.status-changed.v1"]["changes"])[0] == {
        "field": "status",
        "old": "submitted",
        "new": "received",
    }
    applicant = json.loads(row["dossier.submitted.v1"]["payload"])["applicant"]
    assert applicant["email"] == "a***@e***.vn"


async def test_without_clearance_no_response_or_export_shows_a_citizen_id(
    audit: AuditService, publisher: EventPublisher, http: httpx.AsyncClient
) -> None:
    dossier = new_dossier_id()
    note = f"Số CCCD của tôi là {CITIZEN_ID}, gọi 0912345678"
    events = [
        submitted(dossier, note=note),
        status_changed(dossier, "submitted", "received", version=2),
    ]
    await publisher.publish_many(events, keys=[dossier] * 2)
    entries = await wait_for_entries(http, audit, dossier, 2)
    await wait_for_checkpoint(http, audit, max(e["seq"] for e in entries))
    by_type = {e["event_type"]: e for e in entries}
    seq = by_type["dossier.submitted.v1"]["seq"]

    views = {
        "trail": f"/dossiers/{dossier}",
        "entries": "/entries",
        "filtered": f"/entries?dossier_id={dossier}",
        "ndjson sealed": "/entries.ndjson",
        "ndjson readable": "/entries.ndjson?view=readable",
        "csv": "/entries.csv",
        "inclusion proof": f"/proofs/inclusion?seq={seq}",
        "checkpoints": "/checkpoints.ndjson",
        "verify": "/verify",
    }
    for name, path in views.items():
        response = await http.get(f"{audit.url}/v1/audit{path}", headers=audit.auditor())
        assert response.status_code == 200, (name, response.text)
        text = response.content.decode("utf-8-sig")
        assert not shows_a_citizen_id(text), name
        assert "Nguyễn Văn An" not in text, name
        assert "an.nguyen@example.vn" not in text, name

    masked = by_type["dossier.submitted.v1"]["payload"]
    assert masked["applicant"]["id_number"] == "[redacted]"
    assert masked["applicant"]["name"] == "[redacted]"
    assert masked["applicant"]["phone"] == "091****678"
    assert masked["form"]["ghi_chu"] == "Số CCCD của tôi là [id], gọi 091****678"
    assert by_type["dossier.status-changed.v1"]["payload"]["recipient"]["display_name"] == (
        "[redacted]"
    )

    for path in (f"/dossiers/{dossier}", "/entries.csv", "/entries.ndjson?view=readable"):
        response = await http.get(
            f"{audit.url}/v1/audit{path}", headers=audit.auditor(cleared=True)
        )
        assert CITIZEN_ID in response.content.decode("utf-8-sig"), path
    trail = (await get(http, audit, f"/dossiers/{dossier}", cleared=True)).json()["entries"]
    cleared = {e["event_type"]: e["payload"] for e in trail}
    assert cleared["dossier.submitted.v1"]["applicant"]["id_number"] == CITIZEN_ID
    assert cleared["dossier.submitted.v1"]["form"]["ghi_chu"] == note
    assert cleared["dossier.status-changed.v1"]["recipient"]["display_name"] == "Nguyễn Văn An"
    # The sealed export stays encrypted for everyone: it is the verifiable form.
    sealed = await http.get(
        f"{audit.url}/v1/audit/entries.ndjson", headers=audit.auditor(cleared=True)
    )
    assert CITIZEN_ID not in sealed.text


async def test_the_trail_shows_what_the_filtered_query_shows(
    audit: AuditService, publisher: EventPublisher, http: httpx.AsyncClient
) -> None:
    dossier = new_dossier_id()
    events = [submitted(dossier)] + [
        status_changed(dossier, f"s{n}", f"s{n + 1}", version=n + 2) for n in range(4)
    ]
    await publisher.publish_many(events, keys=[dossier] * len(events))
    trail = await wait_for_entries(http, audit, dossier, len(events))

    filtered = (await get(http, audit, "/entries", dossier_id=dossier, limit=100)).json()
    assert trail == filtered["entries"]
    assert [e["event_id"] for e in trail] == [e.id for e in events]
    first_page = (await get(http, audit, f"/dossiers/{dossier}", limit=2)).json()
    assert first_page["entries"] == trail[:2]
    second_page = (
        await get(http, audit, f"/dossiers/{dossier}", cursor=first_page["next_cursor"], limit=2)
    ).json()
    assert second_page["entries"] == trail[2:4]
    last_page = (
        await get(http, audit, f"/dossiers/{dossier}", cursor=second_page["next_cursor"], limit=2)
    ).json()
    assert last_page == {"dossier_id": dossier, "entries": trail[4:], "next_cursor": None}
    # A cursor of the trail is not one of the filtered query.
    foreign = await get(http, audit, "/entries", cursor=first_page["next_cursor"])
    assert foreign.status_code == 422
    assert foreign.json()["errors"][0]["pointer"] == "query:/cursor"
