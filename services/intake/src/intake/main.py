"""Intake: the portal's and the counter's door for dossiers.

The composition root: builds the adapters (store, publisher, throttles), hands them to
the use cases, and puts the routers and the status projection's consumer in front.
"""

from __future__ import annotations

import gc

from fastapi import FastAPI

from chassis.catalogue import Catalogue, CatalogueHolder
from chassis.events import Topics
from chassis.kafka import ConsumerLoop
from chassis.service import Runtime, create_app, serve
from intake.adapters.catalogue_changes import CatalogueAnnouncer
from intake.adapters.gridfs import DocumentFiles, document_sweep
from intake.adapters.projection import StatusProjection
from intake.adapters.publisher import KafkaPublisher
from intake.adapters.ratelimit import RateLimit
from intake.adapters.results import result_signer
from intake.adapters.slip_pdf import render_slip
from intake.adapters.store import IntakeStore
from intake.api import catalogue, documents, dossiers, follow_up, identities, slips
from intake.api.deps import IntakeApi, install
from intake.api.documents import UPLOAD_PATH
from intake.api.follow_up import render_concealed
from intake.domain.follow_up import FollowUpKeys
from intake.domain.identity import IdentitySeal
from intake.service import ConcealedNotFound, FollowUp, Identities, Slips, Submissions
from intake.service.documents import Documents
from intake.service.results import ResultIssuer, announce_with
from intake.settings import IntakeSettings

ROUTERS = [
    catalogue.router,
    dossiers.router,
    documents.router,
    slips.router,
    follow_up.router,
    identities.router,
]
TAGS = [
    {
        "name": "catalogue",
        "description": "The public procedure catalogue: what the department handles, in what "
        "time, with which documents and form. No token needed.",
    },
    {
        "name": "dossiers",
        "description": "Submitting a dossier, petition, complaint or denunciation: portal "
        "clients online, the one-stop desk at the counter and by post for every unit, "
        "officers for their own unit, the hotline by phone. Answers with a receipt; the "
        "desk prints the receipt-and-appointment slip.",
    },
    {
        "name": "follow-up",
        "description": "The citizen's own look-up, supplement and withdrawal by receipt code "
        "and follow-up secret (or phone number). No token; rate-limited per address.",
    },
    {
        "name": "documents",
        "description": "Uploading the files a submission names, and reading a dossier's "
        "documents: officers of its agency and the desk (every read audited), and the "
        "citizen with the receipt code and second factor.",
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


def build_api(
    settings: IntakeSettings,
    store: IntakeStore,
    publisher: KafkaPublisher,
    catalogue: Catalogue | None = None,
    files: DocumentFiles | None = None,
) -> IntakeApi:
    # The catalogue is validated in full here: a broken entry stops the start-up.
    procedures = catalogue or CatalogueHolder.from_settings(settings)
    keys = follow_up_keys(settings)
    seal = identity_seal(settings)
    storage = settings.rate_limit_storage
    files = files if files is not None else DocumentFiles(store.database)
    follow_up = FollowUp(
        store=store,
        publisher=publisher,
        catalogue=procedures,
        keys=keys,
        phone_failures=RateLimit(
            "phone-failures", settings.rate_limit_follow_up_failures_per_code, storage
        ),
        settings=settings,
        documents=files,
    )
    documents = Documents(
        documents=files,
        submissions=store,
        publisher=publisher,
        follow_up=follow_up,
        settings=settings,
    )
    return IntakeApi(
        catalogue=procedures,
        submissions=Submissions(
            store=store,
            publisher=publisher,
            catalogue=procedures,
            keys=keys,
            seal=seal,
            settings=settings,
            documents=documents,
        ),
        follow_up=follow_up,
        identities=Identities(store=store, publisher=publisher, seal=seal, settings=settings),
        slips=Slips(store=store, catalogue=procedures, render=render_slip, settings=settings),
        per_client=RateLimit("client", settings.rate_limit_per_client, storage),
        per_ip=RateLimit("follow-up-ip", settings.rate_limit_follow_up_per_ip, storage),
        documents=documents,
    )


def build_app(settings: IntakeSettings | None = None) -> FastAPI:
    settings = settings or IntakeSettings()
    runtime = Runtime(settings)
    store = IntakeStore(runtime.db)
    runtime.on_startup(store.create_indexes)
    files = DocumentFiles(runtime.db)
    runtime.on_startup(files.create_indexes)
    runtime.add_worker("document-sweep", document_sweep(files, settings))
    # The catalogue follows CATALOGUE_PATH; each version that comes into force is audited.
    procedures = CatalogueHolder.from_settings(settings)
    procedures.on_activated(CatalogueAnnouncer(runtime.publisher).announce)
    runtime.add_worker("catalogue-watch", procedures.watch)
    # An approval also issues the dossier's signed result document.
    issuer = ResultIssuer(
        results=files,
        catalogue=procedures,
        sign=result_signer(settings),
        announce=announce_with(runtime.publisher.publish),
    )
    projection = StatusProjection(store, after_status=issuer.on_status_changed)
    runtime.add_consumer(
        ConsumerLoop(
            settings=settings,
            group="intake",
            topics=[Topics.LIFECYCLE],
            publisher=runtime.publisher,
            batch_handler=projection.handle_batch,
        )
    )
    api = build_api(settings, store, KafkaPublisher(runtime.publisher), procedures, files)
    app = create_app(
        runtime,
        title="Intake",
        tags=TAGS,
        description="Procedure catalogue, submissions, receipts and citizen follow-up.",
        routers=ROUTERS,
        max_body_bytes=settings.max_body_bytes,
        # An upload streams its file: the route counts its bytes and answers its own
        # problem before the body limit, a server read (64 KiB) or so higher, cuts it.
        body_limits={UPLOAD_PATH: settings.attachment_max_bytes + 1024 * 1024},
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
