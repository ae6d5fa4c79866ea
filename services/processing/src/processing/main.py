"""Processing: the dossier's workflow, officers' work and statutory deadlines."""

from __future__ import annotations

from fastapi import FastAPI

from chassis.events import DossierSubmitted, Topics
from chassis.kafka import ConsumerLoop
from chassis.service import Runtime, create_app, serve
from processing.adapters.consumer import SubmissionHandlers
from processing.adapters.relay import OutboxRelay
from processing.adapters.store import DossierStore
from processing.settings import ProcessingSettings


def build_app(settings: ProcessingSettings | None = None) -> FastAPI:
    settings = settings or ProcessingSettings()
    runtime = Runtime(settings)
    store = DossierStore(runtime.db)
    relay = OutboxRelay(store, runtime.publisher, settings.outbox_poll_interval_s)
    handlers = SubmissionHandlers(store, relay)
    runtime.on_startup(store.create_indexes)
    runtime.add_consumer(
        ConsumerLoop(
            settings=settings,
            group="processing",
            topics=[Topics.SUBMISSIONS],
            publisher=runtime.publisher,
            handlers={DossierSubmitted.event_type: handlers.on_submitted},
        )
    )
    runtime.add_worker("outbox-relay", relay.run)
    return create_app(
        runtime,
        title="Processing",
        description="Dossier workflow, officers' queue, deadlines and public statistics.",
        routers=[],
    )


def run() -> None:
    settings = ProcessingSettings()
    serve(build_app(settings), settings)


if __name__ == "__main__":
    run()
