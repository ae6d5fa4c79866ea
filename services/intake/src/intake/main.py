"""Intake: the portal's and the counter's door for dossiers."""

from __future__ import annotations

from fastapi import FastAPI

from chassis.service import Runtime, create_app, serve
from intake.adapters.store import IntakeStore
from intake.api.routes import build_router
from intake.settings import IntakeSettings


def build_app(settings: IntakeSettings | None = None) -> FastAPI:
    settings = settings or IntakeSettings()
    runtime = Runtime(settings)
    store = IntakeStore(runtime.db)
    runtime.on_startup(store.create_indexes)
    return create_app(
        runtime,
        title="Intake",
        description="Procedure catalogue, submissions, receipts and citizen follow-up.",
        routers=[build_router(settings, runtime.publisher)],
    )


def run() -> None:
    settings = IntakeSettings()
    serve(build_app(settings), settings)


if __name__ == "__main__":
    run()
