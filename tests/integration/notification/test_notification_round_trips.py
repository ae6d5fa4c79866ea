"""What a notice costs the store, counted on the real store and broker: every store
command is a commit of its own, so the deliveries of notices handled together must share
their writes rather than each pay for its own (`hoso_store_commands_total`)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import httpx
import pytest

from chassis.events import decode, encode
from chassis.kafka import EventPublisher, ensure_topics
from chassis.mongo import StoreClient, connect
from notification.adapters.store import DeliveryStore
from notification.domain.messages import TemplateCatalogue
from notification.main import build_senders
from notification.service import Deliverer, LifecycleNotice, NoticeHandler
from notification.settings import NotificationSettings
from tests.integration.notification.notification_harness import (
    INBOX_PATH,
    NEW_SECRET,
    SMS_PATH,
    SMS_TOKEN,
    FakeGateway,
    new_dossier,
    recipient,
    status_changed,
)
from tests.support.infra import Infra
from tests.support.mail import MailSink
from tests.support.store_commands import commands_sent

pytestmark = pytest.mark.integration

TOGETHER = 20


@dataclass
class Counted:
    settings: NotificationSettings
    client: StoreClient
    store: DeliveryStore
    handler: NoticeHandler

    def commands(self) -> dict[str, float]:
        """The store commands this process's notification client has sent, by name."""
        return commands_sent(self.settings.service_name)


@pytest.fixture(scope="module")
async def counted(
    infra: Infra, run_id: str, notification_mail: MailSink, gateway: FakeGateway
) -> AsyncIterator[Counted]:
    settings = NotificationSettings(
        kafka_bootstrap_servers=infra.kafka,
        kafka_topic_prefix=f"{run_id}-notification-round-trips.",
        mongodb_uri=infra.mongodb,
        mongodb_database=f"{run_id}_notification_round_trips",
        smtp_host="127.0.0.1",
        smtp_port=notification_mail.port,
        sms_gateway_url=gateway.url + SMS_PATH,
        sms_gateway_token=SMS_TOKEN,
        portal_webhook_url=gateway.url + INBOX_PATH,
        webhook_secrets=[NEW_SECRET],
    )
    await ensure_topics(settings)
    publisher = EventPublisher(settings)
    await publisher.start()
    # The service's own client, which counts every command it sends.
    client, db = connect(settings)
    store = DeliveryStore(db)
    await store.create_indexes()
    http = httpx.AsyncClient(timeout=5)
    deliverer = Deliverer(settings, store, build_senders(settings, http), publisher)
    handler = NoticeHandler(settings, TemplateCatalogue(settings.lookup_url), store, deliverer)
    try:
        yield Counted(settings, client, store, handler)
    finally:
        await http.aclose()
        await publisher.stop()
        await client.drop_database(settings.mongodb_database)
        await client.close()


def _notices(count: int) -> list[LifecycleNotice]:
    """Approvals, each to be told by email, SMS and the portal inbox."""
    notices = []
    for _ in range(count):
        dossier_id, receipt = new_dossier()
        to = recipient(
            email=f"round.{secrets.token_hex(4)}@example.vn",
            phone=f"09{secrets.randbelow(10**8):08d}",
            portal_account=f"cd-{secrets.token_hex(4)}",
        )
        envelope, payload = decode(encode(status_changed(dossier_id, receipt, "approved", to)))
        assert envelope is not None
        notices.append(
            LifecycleNotice(envelope.id, envelope.type, envelope.time, payload)  # type: ignore[arg-type]
        )
    return notices


async def _handled(counted: Counted, notices: Sequence[LifecycleNotice]) -> dict[str, float]:
    """The store commands handling ``notices`` as one consumed batch took, by name."""
    before = counted.commands()
    assert await counted.handler.handle_batch(notices) == []
    after = counted.commands()
    return {name: n - before.get(name, 0) for name, n in after.items() if n > before.get(name, 0)}


async def test_notices_handled_together_share_their_store_round_trips(counted: Counted) -> None:
    lone = await _handled(counted, _notices(1))
    notices = _notices(TOGETHER)
    together = await _handled(counted, notices)

    # Alone: the deliveries inserted, the three outcomes recorded, the three marked
    # published. One command for each outcome and one for the publication made five;
    # outcomes answered at the same moment now share one.
    assert set(lone) <= {"insert", "update"}
    assert lone["insert"] == 1
    assert 3 <= sum(lone.values()) <= 5
    # Together: one insert for the batch, and outcomes recorded and marked published
    # with those of other dossiers at the same moment. One command per outcome and one
    # per dossier's publication made 1 + 60 + 20 = 81; measured here 5 to 36, as the
    # channels' answers spread out in time.
    ungrouped = 1 + TOGETHER * (3 + 1)
    assert together["insert"] == 1
    assert sum(together.values()) * 2 <= ungrouped
    # Grouped, yet each delivery settled on its own terms: all sent, once, and their
    # events acknowledged by the broker (``sent``, not ``sent_unpublished``).
    ids = {key for n in notices for key in _keys(counted, n)}
    for delivery_id in ids:
        delivery = await counted.store.get(delivery_id)
        assert delivery is not None
        assert (delivery["status"], delivery["attempts"]) == ("sent", 1)
        assert [h["outcome"] for h in delivery["history"]] == ["sent"]
    assert len(ids) == 3 * TOGETHER


def _keys(counted: Counted, notice: LifecycleNotice) -> list[str]:
    return [p.document["_id"] for p in counted.handler.plan(notice, notice.occurred_at)]
