"""Audit: an append-only, tamper-evident log of everything that happened to dossiers."""

from __future__ import annotations

from fastapi import FastAPI

from audit.adapters.consumer import AuditRecorder
from audit.adapters.store import AuditStore
from audit.api.routes import build_router
from audit.settings import AuditSettings
from chassis.events import Topics
from chassis.kafka import ConsumerLoop
from chassis.service import Runtime, create_app, serve


def build_app(settings: AuditSettings | None = None) -> FastAPI:
    settings = settings or AuditSettings()
    runtime = Runtime(settings)
    store = AuditStore(runtime.db)
    recorder = AuditRecorder(store)
    runtime.on_startup(store.create_indexes)
    runtime.add_consumer(
        ConsumerLoop(
            settings=settings,
            group="audit",
            topics=list(Topics.ALL),
            publisher=runtime.publisher,
            batch_handler=recorder.record,
        )
    )
    return create_app(
        runtime,
        title="Audit",
        description="Append-only, hash-chained audit log with signed checkpoints.",
        routers=[build_router(settings, store)],
    )


def run() -> None:
    settings = AuditSettings()
    serve(build_app(settings), settings)


if __name__ == "__main__":
    run()
