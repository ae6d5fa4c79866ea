"""Processing: the dossier's workflow, officers' work and statutory deadlines."""

from __future__ import annotations

from fastapi import FastAPI

from chassis.calendar import DEFAULT_CALENDAR
from chassis.catalogue import load_default_catalogue
from chassis.events import Topics
from chassis.kafka import ConsumerLoop
from chassis.service import Runtime, create_app, serve
from processing.adapters.consumer import submission_handlers
from processing.adapters.deadline_scan import DeadlineScanner
from processing.adapters.relay import OutboxRelay
from processing.adapters.store import DossierStore
from processing.api import officer, ops, public
from processing.commands import DossierService
from processing.settings import ProcessingSettings


def build_app(settings: ProcessingSettings | None = None) -> FastAPI:
    settings = settings or ProcessingSettings()
    runtime = Runtime(settings)
    catalogue = load_default_catalogue()
    store = DossierStore(runtime.db)
    relay = OutboxRelay(
        store,
        runtime.publisher,
        settings.outbox_poll_interval_s,
        lease_s=settings.outbox_lease_s,
    )
    service = DossierService(store, settings, catalogue, DEFAULT_CALENDAR, relay.wake)
    runtime.on_startup(store.create_indexes)
    runtime.add_consumer(
        ConsumerLoop(
            settings=settings,
            group="processing",
            topics=[Topics.SUBMISSIONS],
            publisher=runtime.publisher,
            handlers=submission_handlers(service),
        )
    )
    runtime.add_worker("outbox-relay", relay.run)
    runtime.add_worker(
        "deadline-scan", DeadlineScanner(service, settings.deadline_scan_interval_s).run
    )
    return create_app(
        runtime,
        title="Processing",
        description="Dossier workflow, officers' queue, deadlines and public statistics.",
        routers=[
            officer.build_router(settings, service, store),
            public.build_router(settings, service, store, catalogue),
            ops.build_router(settings, service),
        ],
    )


def run() -> None:
    settings = ProcessingSettings()
    serve(build_app(settings), settings)


if __name__ == "__main__":
    run()
