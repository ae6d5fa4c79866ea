"""Intake: the portal's and the counter's door for dossiers."""

from __future__ import annotations

import gc

from fastapi import FastAPI

from chassis.catalogue import load_default_catalogue
from chassis.events import Topics
from chassis.kafka import ConsumerLoop
from chassis.service import Runtime, create_app, serve
from intake.adapters.projection import StatusProjection
from intake.adapters.store import IntakeStore
from intake.api.context import IntakeContext
from intake.api.follow_up import ConcealedNotFound, render_concealed
from intake.api.routes import build_routers
from intake.settings import IntakeSettings


def build_app(settings: IntakeSettings | None = None) -> FastAPI:
    settings = settings or IntakeSettings()
    runtime = Runtime(settings)
    store = IntakeStore(runtime.db)
    runtime.on_startup(store.create_indexes)
    runtime.add_consumer(
        ConsumerLoop(
            settings=settings,
            group="intake",
            topics=[Topics.LIFECYCLE],
            publisher=runtime.publisher,
            handlers=StatusProjection(store).handlers(),
        )
    )
    # The catalogue is validated in full here: a broken entry stops the start-up.
    ctx = IntakeContext.build(settings, store, runtime.publisher, load_default_catalogue())
    app = create_app(
        runtime,
        title="Intake",
        description="Procedure catalogue, submissions, receipts and citizen follow-up.",
        routers=build_routers(ctx),
        max_body_bytes=settings.max_body_bytes,
    )
    app.add_exception_handler(ConcealedNotFound, render_concealed)
    return app


def run() -> None:
    settings = IntakeSettings()
    app = build_app(settings)
    # Everything built so far lives as long as the process: keeping it out of the
    # collector's generations spares every full collection a walk over the frameworks.
    gc.freeze()
    serve(app, settings)


if __name__ == "__main__":
    run()
