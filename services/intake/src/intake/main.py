"""Intake: the portal's and the counter's door for dossiers.

The composition root: builds the adapters (store, publisher, throttles), hands them to
the use cases, and puts the routers and the status projection's consumer in front.
"""

from __future__ import annotations

import gc

from fastapi import FastAPI

from chassis.catalogue import load_default_catalogue
from chassis.events import Topics
from chassis.kafka import ConsumerLoop
from chassis.service import Runtime, create_app, serve
from intake.adapters.projection import StatusProjection
from intake.adapters.publisher import KafkaPublisher
from intake.adapters.ratelimit import RateLimit
from intake.adapters.store import IntakeStore
from intake.api import catalogue, dossiers, follow_up, identities
from intake.api.deps import IntakeApi, install
from intake.api.follow_up import render_concealed
from intake.domain.follow_up import FollowUpKeys
from intake.domain.identity import IdentitySeal
from intake.service import ConcealedNotFound, FollowUp, Identities, Submissions
from intake.settings import IntakeSettings

ROUTERS = [catalogue.router, dossiers.router, follow_up.router, identities.router]
TAGS = [
    {
        "name": "catalogue",
        "description": "The public procedure catalogue: what the department handles, in what "
        "time, with which documents and form. No token needed.",
    },
    {
        "name": "dossiers",
        "description": "Submitting a dossier, petition, complaint or denunciation: portal "
        "clients online, officers at the counter. Answers with a receipt.",
    },
    {
        "name": "follow-up",
        "description": "The citizen's own look-up, supplement and withdrawal by receipt code "
        "and follow-up secret (or phone number). No token; rate-limited per address.",
    },
    {
        "name": "identities",
        "description": "Resolving a denouncer's pseudonym, for cleared officers of the "
        "handling agency only; every look is audited.",
    },
]


def follow_up_keys(settings: IntakeSettings) -> FollowUpKeys | None:
    if settings.follow_up_key is None:
        return None
    return FollowUpKeys.from_secret(settings.follow_up_key.get_secret_value(), derived=False)


def identity_seal(settings: IntakeSettings) -> IdentitySeal | None:
    if settings.identity_key is None:
        return None
    # A malformed key stops the service at start-up, not at the first denunciation.
    return IdentitySeal(settings.identity_key.get_secret_value())


def build_api(settings: IntakeSettings, store: IntakeStore, publisher: KafkaPublisher) -> IntakeApi:
    # The catalogue is validated in full here: a broken entry stops the start-up.
    procedures = load_default_catalogue()
    keys = follow_up_keys(settings)
    seal = identity_seal(settings)
    storage = settings.rate_limit_storage
    return IntakeApi(
        catalogue=procedures,
        submissions=Submissions(
            store=store,
            publisher=publisher,
            catalogue=procedures,
            keys=keys,
            seal=seal,
            settings=settings,
        ),
        follow_up=FollowUp(
            store=store,
            publisher=publisher,
            catalogue=procedures,
            keys=keys,
            phone_failures=RateLimit(
                "phone-failures", settings.rate_limit_follow_up_failures_per_code, storage
            ),
            settings=settings,
        ),
        identities=Identities(store=store, publisher=publisher, seal=seal, settings=settings),
        per_client=RateLimit("client", settings.rate_limit_per_client, storage),
        per_ip=RateLimit("follow-up-ip", settings.rate_limit_follow_up_per_ip, storage),
    )


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
    api = build_api(settings, store, KafkaPublisher(runtime.publisher))
    app = create_app(
        runtime,
        title="Intake",
        tags=TAGS,
        description="Procedure catalogue, submissions, receipts and citizen follow-up.",
        routers=ROUTERS,
        max_body_bytes=settings.max_body_bytes,
    )
    install(app, api)
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
