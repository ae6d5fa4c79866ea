from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator

import pytest
from pymongo import AsyncMongoClient, MongoClient

from chassis.kafka import EventPublisher
from chassis.mongo import StoreClient, StoreDatabase
from chassis.settings import ServiceSettings
from tests.integration.notification.notification_harness import (
    INBOX_PATH,
    MAX_ATTEMPTS,
    NEW_SECRET,
    OLD_SECRET,
    SMS_PATH,
    SMS_TOKEN,
    Deployed,
    FakeGateway,
    TopicReader,
)
from tests.support.infra import Infra
from tests.support.mail import MailSink
from tests.support.services import ServiceProcess, service_env

NAME = "notification-it"


@pytest.fixture(scope="session")
def notification_mail() -> Iterator[MailSink]:
    sink = MailSink()
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture(scope="session")
def gateway() -> Iterator[FakeGateway]:
    fake = FakeGateway(SMS_TOKEN, [NEW_SECRET.encode(), OLD_SECRET.encode()])
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture(scope="session")
def notification(
    base_env: dict[str, str],
    run_id: str,
    infra: Infra,
    notification_mail: MailSink,
    gateway: FakeGateway,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Deployed]:
    """One notification process with every channel on and retries measured in tenths of
    seconds, on its own topics and database."""
    prefix = f"{run_id}-{NAME}."
    database = f"{run_id}_{NAME}".replace("-", "_")
    log_path = tmp_path_factory.mktemp(NAME) / "notification.log"
    env = service_env(
        base_env,
        run_id,
        "notification",
        {
            "KAFKA_TOPIC_PREFIX": prefix,
            "NOTIFICATION_MONGODB_DATABASE": database,
            "NOTIFICATION_SMTP_HOST": "127.0.0.1",
            "NOTIFICATION_SMTP_PORT": str(notification_mail.port),
            "NOTIFICATION_SMS_GATEWAY_URL": gateway.url + SMS_PATH,
            "NOTIFICATION_SMS_GATEWAY_TOKEN": SMS_TOKEN,
            "NOTIFICATION_PORTAL_WEBHOOK_URL": gateway.url + INBOX_PATH,
            "NOTIFICATION_WEBHOOK_SECRETS": f"{NEW_SECRET},{OLD_SECRET}",
            "NOTIFICATION_DELIVERY_KEY_PEPPER": secrets.token_urlsafe(16),
            "NOTIFICATION_MAX_ATTEMPTS": str(MAX_ATTEMPTS),
            "NOTIFICATION_RETRY_INITIAL_S": "0.2",
            "NOTIFICATION_RETRY_MAX_S": "0.6",
            "NOTIFICATION_FIRST_ATTEMPT_TIMEOUT_S": "1",
            "NOTIFICATION_SEND_TIMEOUT_S": "1.5",
            "NOTIFICATION_SENDING_LEASE_S": "5",
            "NOTIFICATION_PUBLISH_GRACE_S": "3",
            "NOTIFICATION_RETRY_POLL_S": "0.1",
            "NOTIFICATION_INLINE_PAUSE_S": "2",
        },
    )
    process = ServiceProcess("notification", env, log_path)
    process.start()
    try:
        process.wait_ready()
        yield Deployed(process, prefix, database, log_path)
    finally:
        process.stop()
        # Leave no database behind in the shared store.
        with MongoClient(infra.mongodb, serverSelectionTimeoutMS=5000) as client:
            client.drop_database(database)


@pytest.fixture(scope="session")
async def lifecycle_publisher(
    notification: Deployed, infra: Infra
) -> AsyncIterator[EventPublisher]:
    """Stands in for processing: publishes lifecycle events to the service's topics."""
    publisher = EventPublisher(
        ServiceSettings(
            service_name="processing-stand-in",
            kafka_bootstrap_servers=infra.kafka,
            kafka_topic_prefix=notification.prefix,
        )
    )
    await publisher.start()
    yield publisher
    await publisher.stop()


@pytest.fixture(scope="session")
async def outcomes(notification: Deployed, infra: Infra) -> AsyncIterator[TopicReader]:
    reader = TopicReader(infra.kafka, notification.prefix)
    await reader.start()
    yield reader
    await reader.stop()


@pytest.fixture(scope="session")
async def notification_db(notification: Deployed, infra: Infra) -> AsyncIterator[StoreDatabase]:
    client: StoreClient = AsyncMongoClient(infra.mongodb, tz_aware=True)
    yield client[notification.database]
    await client.close()
