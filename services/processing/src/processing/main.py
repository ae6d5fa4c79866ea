"""Processing: the dossier's workflow, officers' work and statutory deadlines.

The composition root: it builds the adapters, the service over them, and hands the
routers, the consumer loop and the background workers to the chassis's runtime.
"""

from __future__ import annotations

import logging
import os

from fastapi import FastAPI

from chassis.calendar import DEFAULT_CALENDAR
from chassis.catalogue import CatalogueHolder
from chassis.events import Topics
from chassis.kafka import ConsumerLoop
from chassis.service import Runtime, create_app, serve
from processing.adapters.consumer import SubmissionsConsumer
from processing.adapters.deadline_scan import DeadlineScanner
from processing.adapters.relay import OutboxRelay
from processing.adapters.store import DossierStore
from processing.api import deps, officer, ops, public
from processing.service import ProcessingService
from processing.settings import ProcessingSettings

TAGS = [
    {
        "name": "officers",
        "description": "The officers' work: their agency's queue, a dossier with what they may "
        "do next, workflow actions, assignment and notes. Changes need `If-Match`.",
    },
    {
        "name": "transparency",
        "description": "Public on-time statistics per procedure and per agency: counts only, "
        "never one dossier. No token needed.",
    },
    {"name": "operations", "description": "Operators' controls of the background work."},
]

log = logging.getLogger(__name__)

# The exit status of the test-only crash, so a test can tell it from a real failure.
CRASH_EXIT_CODE = 86


def build_app(settings: ProcessingSettings | None = None) -> FastAPI:
    settings = settings or ProcessingSettings()
    runtime = Runtime(settings)
    if settings.search_key is None:
        log.warning(
            "PROCESSING_SEARCH_KEY is not set: dossiers are stored without the hashes officers "
            "find them by phone or ID number, and that search answers 503"
        )
    store = DossierStore(runtime.db)
    relay = OutboxRelay(
        store,
        runtime.publisher,
        settings.outbox_poll_interval_s,
        lease_s=settings.outbox_lease_s,
    )

    def written(dossier_id: str) -> None:
        # Called right after a store write that carries events, with no await in
        # between, so the test-only crash lands before the relay can send them.
        if settings.test_crash_after_store_write:
            os._exit(CRASH_EXIT_CODE)
        relay.wake(dossier_id)

    # The catalogue follows CATALOGUE_PATH; a dossier keeps the version it was lodged under.
    catalogue = CatalogueHolder.from_settings(settings)
    runtime.add_worker("catalogue-watch", catalogue.watch)
    service = ProcessingService(store, settings, catalogue, DEFAULT_CALENDAR, wake_relay=written)
    runtime.on_startup(store.create_indexes)
    runtime.add_consumer(
        ConsumerLoop(
            settings=settings,
            group="processing",
            topics=[Topics.SUBMISSIONS],
            publisher=runtime.publisher,
            # The submissions of a batch open their dossiers in one store write.
            batch_handler=SubmissionsConsumer(service).handle_batch,
        )
    )
    runtime.add_worker("outbox-relay", relay.run)
    runtime.add_worker(
        "deadline-scan", DeadlineScanner(service, settings.deadline_scan_interval_s).run
    )
    app = create_app(
        runtime,
        title="Processing",
        description="Dossier workflow, officers' queue, deadlines and public statistics.",
        routers=[officer.router, public.router, ops.router],
        tags=TAGS,
    )
    deps.install(app, deps.Wiring(settings=settings, service=service))
    return app


def run() -> None:
    settings = ProcessingSettings()
    serve(build_app(settings), settings)


if __name__ == "__main__":
    run()
