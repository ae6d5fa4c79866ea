"""Notification: tells the citizen, once, each time their dossier moves."""

from __future__ import annotations

from fastapi import FastAPI

from chassis.events import DossierStatusChanged, Topics
from chassis.kafka import ConsumerLoop
from chassis.service import Runtime, create_app, serve
from notification.adapters.consumer import LifecycleHandlers
from notification.adapters.email import SmtpSender
from notification.adapters.store import DeliveryStore
from notification.settings import NotificationSettings


def build_app(settings: NotificationSettings | None = None) -> FastAPI:
    settings = settings or NotificationSettings()
    runtime = Runtime(settings)
    store = DeliveryStore(runtime.db)
    handlers = LifecycleHandlers(store, SmtpSender(settings), runtime.publisher)
    runtime.on_startup(store.create_indexes)
    runtime.add_consumer(
        ConsumerLoop(
            settings=settings,
            group="notification",
            topics=[Topics.LIFECYCLE],
            publisher=runtime.publisher,
            handlers={DossierStatusChanged.event_type: handlers.on_status_changed},
        )
    )
    return create_app(
        runtime,
        title="Notification",
        description="Email, SMS and portal notices to citizens, with a delivery log.",
        routers=[],
    )


def run() -> None:
    settings = NotificationSettings()
    serve(build_app(settings), settings)


if __name__ == "__main__":
    run()
