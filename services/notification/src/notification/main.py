"""Notification: tells the citizen, once, each time their dossier moves."""

from __future__ import annotations

import logging

import httpx
from fastapi import FastAPI

from chassis import metrics
from chassis.events import DeliveryChannel, Topics
from chassis.kafka import ConsumerLoop
from chassis.service import Runtime, create_app, serve
from notification import metrics as notification_metrics
from notification.adapters.consumer import LifecycleConsumer
from notification.adapters.email import SmtpSender
from notification.adapters.sms import SmsGateway
from notification.adapters.store import DeliveryStore
from notification.adapters.webhook import PortalWebhook
from notification.api import deliveries, templates
from notification.domain.messages import TemplateCatalogue
from notification.service import GROUP, Deliverer, NoticeHandler, Operators, RetryWorker
from notification.service.ports import Sender
from notification.settings import NotificationSettings

log = logging.getLogger("notification")

TAGS = [
    {
        "name": "deliveries",
        "description": "Operators' view of the delivery log: every notice by dossier, status "
        "and channel, its attempts, and resending a failed one. Addresses are masked.",
    },
    {
        "name": "templates",
        "description": "Operators' view of the wording: which notices exist, rendered with "
        "sample data.",
    },
]


def build_senders(
    settings: NotificationSettings, client: httpx.AsyncClient
) -> dict[DeliveryChannel, Sender]:
    """One sender per configured channel; an unconfigured channel is simply absent."""
    senders: dict[DeliveryChannel, Sender] = {}
    if settings.email_enabled:
        senders[DeliveryChannel.EMAIL] = SmtpSender(settings)
    if settings.sms_enabled:
        senders[DeliveryChannel.SMS] = SmsGateway(settings, client)
    if settings.webhook_enabled:
        senders[DeliveryChannel.WEBHOOK] = PortalWebhook(settings, client)
    return senders


def build_app(settings: NotificationSettings | None = None) -> FastAPI:
    settings = settings or NotificationSettings()
    runtime = Runtime(settings)
    store = DeliveryStore(runtime.db)
    # One pool for the SMS gateway and the portal; each attempt has its own time limit,
    # these only bound connecting and a silent peer.
    client = httpx.AsyncClient(
        timeout=httpx.Timeout(settings.send_timeout_s, connect=min(5.0, settings.send_timeout_s)),
        follow_redirects=False,
        # Idle connections are dropped before common server idle timeouts (uvicorn: 5 s),
        # so a request is never written into a connection the peer is closing.
        limits=httpx.Limits(
            max_connections=settings.delivery_concurrency * 2, keepalive_expiry=2.0
        ),
    )
    senders = build_senders(settings, client)
    # At 0 before the first delivery, so that alerts and dashboards see the first failure.
    notification_metrics.notifications_at_zero(c.value for c in senders)
    metrics.consumer_at_zero(settings.service_name, GROUP, {}, reasons=["delivery_failed"])
    catalogue = TemplateCatalogue(settings.lookup_url)
    deliverer = Deliverer(settings, store, senders, runtime.publisher)
    notices = NoticeHandler(settings, catalogue, store, deliverer)
    consumer = LifecycleConsumer(settings, notices, runtime.publisher)

    runtime.on_startup(store.create_indexes)
    runtime.add_consumer(
        ConsumerLoop(
            settings=settings,
            group=GROUP,
            topics=[Topics.LIFECYCLE],
            publisher=runtime.publisher,
            batch_handler=consumer.handle_batch,
        )
    )
    runtime.add_worker("notification-retries", RetryWorker(settings, store, deliverer).run)
    runtime.on_shutdown(client.aclose)

    app = create_app(
        runtime,
        title="Notification",
        description="Email, SMS and portal notices to citizens, with a delivery log.",
        routers=[deliveries.router, templates.router],
        tags=TAGS,
    )
    # What the routes' `Service` dependency hands them (notification.api.dependencies).
    app.state.operators = Operators(settings, store, catalogue)
    # httpx logs every request URL at INFO; a gateway URL may carry a credential.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    _announce(settings, senders)
    return app


def _announce(settings: NotificationSettings, senders: dict[DeliveryChannel, Sender]) -> None:
    off = [c.value for c in DeliveryChannel if c not in senders]
    log.info(
        "channels on: %s; off (not configured, skipped): %s",
        ", ".join(c.value for c in senders) or "none",
        ", ".join(off) or "none",
    )
    if settings.delivery_key_pepper is None:
        log.warning("NOTIFICATION_DELIVERY_KEY_PEPPER is not set: delivery keys are plain hashes")


def run() -> None:
    settings = NotificationSettings()
    serve(build_app(settings), settings)


if __name__ == "__main__":
    run()
