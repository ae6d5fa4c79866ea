"""The public catalogue as the running service serves it."""

from __future__ import annotations

import httpx
import pytest
from jsonschema import Draft202012Validator

from chassis.catalogue import load_default_catalogue
from tests.integration.intake.intake_bodies import waste_registration
from tests.integration.intake.intake_support import Intake

pytestmark = pytest.mark.integration


async def test_catalogue_is_public_and_filterable(intake_service: Intake) -> None:
    async with httpx.AsyncClient(base_url=intake_service.url, timeout=15) as client:
        everything = (await client.get("/v1/procedures")).json()
        full = (await client.get("/v1/procedures", params={"level": "full"})).json()
        environment = (
            await client.get("/v1/procedures", params={"sector": "environment", "level": "full"})
        ).json()
        complaints = (await client.get("/v1/procedures", params={"kind": "complaint"})).json()
        by_text = (await client.get("/v1/procedures", params={"text": "chat thai nguy hai"})).json()
        bad_filter = await client.get("/v1/procedures", params={"level": "level-9"})

    assert everything["count"] == len(everything["procedures"]) >= 20
    assert {p["kind"] for p in everything["procedures"]} == {
        "procedure",
        "petition",
        "complaint",
        "denunciation",
    }
    assert full["count"] < everything["count"]
    assert all(p["online_level"] == "full" for p in full["procedures"])
    assert {p["code"] for p in environment["procedures"]} >= {"MT-001", "MT-004"}
    assert all(p["sector"] == "environment" for p in environment["procedures"])
    assert complaints["count"] >= 2
    assert all(p["clock"] == "calendar_days" for p in complaints["procedures"])
    assert [p["code"] for p in by_text["procedures"]] == ["MT-004"]
    assert bad_filter.status_code == 422
    assert bad_filter.headers["content-type"].startswith("application/problem+json")


async def test_procedure_detail_carries_a_usable_form_schema(intake_service: Intake) -> None:
    async with httpx.AsyncClient(base_url=intake_service.url, timeout=15) as client:
        response = await client.get("/v1/procedures/MT-004")
        missing = await client.get("/v1/procedures/XX-404")
    assert response.status_code == 200
    detail = response.json()
    assert detail["agency"]["code"] == "STNMT-MT"
    assert detail["processing_days"] == 15
    assert {d["code"] for d in detail["required_documents"]} >= {"application_form"}
    # A portal can validate its form with the schema it was given, before submitting.
    validator = Draft202012Validator(detail["form_schema"])
    assert list(validator.iter_errors(waste_registration()["form"])) == []
    assert list(validator.iter_errors({"facility_name": "x"}))
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")


async def test_the_version_in_force_and_each_procedures_online_steps(
    intake_service: Intake,
) -> None:
    async with httpx.AsyncClient(base_url=intake_service.url, timeout=15) as client:
        version = await client.get("/v1/catalogue")
        listed = (await client.get("/v1/procedures")).json()["procedures"]
        complaint = (await client.get("/v1/procedures/KN-001")).json()
        denunciation = (await client.get("/v1/procedures/TC-001")).json()

    assert version.status_code == 200
    body = version.json()
    catalogue = load_default_catalogue()
    assert body["version_id"] == catalogue.version_id
    assert body["sha256"] == catalogue.sha256
    assert body["published_on"] == "2026-12-07"
    assert body["department"]["name_vi"] == "Sở Nông nghiệp và Môi trường"
    assert body["procedure_count"] == len(listed)
    assert {a["code"] for a in body["agencies"]} == set(catalogue.agencies)
    assert "max-age" in version.headers["cache-control"]
    steps = {p["code"]: p["online_steps"] for p in listed}
    assert steps["MT-004"] == {"lodging": True, "payment": True, "result": True}
    assert steps["DD-001"] == {"lodging": True, "payment": True, "result": False}
    assert steps["BHD-001"] == {"lodging": False, "payment": False, "result": False}
    assert (complaint["acceptance_days"], complaint["acceptance_clock"]) == (10, "calendar_days")
    assert complaint["remote_area_processing_days"] == 45
    assert (denunciation["extension_days"], denunciation["max_extensions"]) == (30, 2)
    assert denunciation["extended_processing_days"] == 90
