"""What an online submission costs the store, counted by `hoso_store_commands_total` on
the service's own client (`chassis.mongo.connect`), on the real store and broker.

A lone submission with two fresh uploads takes five commands: the attachments' look-up,
their marking as referenced, their links to the dossier, the insert and the acceptance.
Submissions arriving together share each of those round trips (`chassis.batching`), so
a burst costs a handful of commands, not five per submission.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from pydantic import SecretStr

from chassis.auth import Principal
from chassis.kafka import EventPublisher, ensure_topics
from chassis.mongo import StoreDatabase, connect
from intake.adapters.gridfs import DocumentFiles
from intake.adapters.publisher import KafkaPublisher
from intake.adapters.store import ACCEPTED, IntakeStore
from intake.api.deps import IntakeApi
from intake.api.models import SubmissionIn
from intake.main import build_api
from intake.settings import IntakeSettings
from tests.integration.intake.intake_bodies import waste_registration
from tests.support.documents import PDF, attachment_for, sample_pdf
from tests.support.infra import Infra
from tests.support.store_commands import commands_sent

pytestmark = pytest.mark.integration

PORTAL = Principal("portal-round-trips", frozenset({"portal"}))
# The look-up, the marking, the links, the insert, the acceptance.
LONE = {"find": 1, "update": 3, "insert": 1}
TOGETHER = 12


@dataclass
class Wired:
    settings: IntakeSettings
    db: StoreDatabase
    api: IntakeApi

    def commands(self) -> dict[str, float]:
        """Every command this service's client sent so far, by name."""
        return commands_sent(self.settings.service_name)


@pytest.fixture(scope="module")
async def wired(infra: Infra, run_id: str) -> AsyncIterator[Wired]:
    name = f"{run_id}_intake_round_trips"
    settings = IntakeSettings(
        # Its own name, so that only its own client's commands are counted.
        service_name=f"intake-round-trips-{run_id}",
        kafka_bootstrap_servers=infra.kafka,
        kafka_topic_prefix=f"{run_id}-intake-round-trips.",
        mongodb_uri=SecretStr(infra.mongodb),
        mongodb_database=name,
        follow_up_key=SecretStr(secrets.token_hex(16)),
    )
    await ensure_topics(settings)
    publisher = EventPublisher(settings)
    await publisher.start()
    client, db = connect(settings)
    store = IntakeStore(db)
    await store.create_indexes()
    files = DocumentFiles(db)
    await files.create_indexes()
    api = build_api(settings, store, KafkaPublisher(publisher), None, files)
    try:
        yield Wired(settings, db, api)
    finally:
        await publisher.stop()
        await client.drop_database(name)
        await client.close()


async def _body(wired: Wired) -> SubmissionIn:
    """The example submission, its two attachments uploaded just now (so not yet
    referenced by any dossier, as a citizen's own files are)."""
    attachments = []
    for code in ("application_form", "business_registration"):
        data = sample_pdf(f"{code} {uuid.uuid4()}")

        async def stream(data: bytes = data) -> AsyncIterator[bytes]:
            yield data

        await wired.api.documents.upload(
            stream(), name=f"{code}.pdf", media_type=PDF, principal=PORTAL
        )
        attachments.append(attachment_for(code, data))
    return SubmissionIn.model_validate(waste_registration(attachments=attachments))


async def _submitted(wired: Wired, bodies: list[SubmissionIn]) -> dict[str, float]:
    """The commands the submissions took, sent at once, by name; each is accepted."""
    before = wired.commands()
    receipts = await asyncio.gather(
        *(wired.api.submissions.submit(body, PORTAL, str(uuid.uuid4())) for body in bodies)
    )
    after = wired.commands()
    ids = [r.body.dossier_id for r in receipts]
    states = wired.db["submissions"].find({"_id": {"$in": ids}}, {"state": 1})
    assert [s["state"] async for s in states] == [ACCEPTED] * len(bodies)
    assert await wired.db["document_links"].count_documents({}) >= 2 * len(bodies)
    return {name: n - before.get(name, 0) for name, n in after.items() if n > before.get(name, 0)}


async def test_a_lone_submission_costs_its_five_commands(wired: Wired) -> None:
    body = await _body(wired)
    assert await _submitted(wired, [body]) == LONE
    # The same documents again (a form attached to dossier after dossier): known
    # referenced, so not marked again.
    assert await _submitted(wired, [body]) == {"find": 1, "update": 2, "insert": 1}


async def test_submissions_sent_together_share_their_round_trips(wired: Wired) -> None:
    bodies = [await _body(wired) for _ in range(TOGETHER)]
    together = await _submitted(wired, bodies)
    # Each kind of round trip is shared: one look-up for all, and far fewer commands
    # than the submissions would take one by one.
    assert together["find"] == 1
    assert together["insert"] < TOGETHER / 2
    assert sum(together.values()) <= TOGETHER * sum(LONE.values()) / 4, together
