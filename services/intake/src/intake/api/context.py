"""What intake's routes share: settings, store, publisher, catalogue, keys, rate limits."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import NoReturn

from pymongo.errors import PyMongoError

from chassis.catalogue import Catalogue
from chassis.kafka import EventPublisher
from chassis.problems import Problem
from intake.adapters.ratelimit import RateLimit
from intake.adapters.store import IntakeStore
from intake.domain.follow_up import FollowUpKeys
from intake.domain.identity import IdentitySeal
from intake.settings import IntakeSettings

log = logging.getLogger("intake")


@dataclass
class IntakeContext:
    settings: IntakeSettings
    store: IntakeStore
    publisher: EventPublisher
    catalogue: Catalogue
    keys: FollowUpKeys | None
    seal: IdentitySeal | None
    per_client: RateLimit
    per_ip: RateLimit
    phone_failures: RateLimit

    @classmethod
    def build(
        cls,
        settings: IntakeSettings,
        store: IntakeStore,
        publisher: EventPublisher,
        catalogue: Catalogue,
    ) -> IntakeContext:
        keys: FollowUpKeys | None = None
        if settings.follow_up_key is not None:
            keys = FollowUpKeys.from_secret(
                settings.follow_up_key.get_secret_value(), derived=False
            )
        seal = None
        if settings.identity_key is not None:
            # A malformed key stops the service at start-up, not at the first denunciation.
            seal = IdentitySeal(settings.identity_key.get_secret_value())
        storage = settings.rate_limit_storage
        return cls(
            settings=settings,
            store=store,
            publisher=publisher,
            catalogue=catalogue,
            keys=keys,
            seal=seal,
            per_client=RateLimit("client", settings.rate_limit_per_client, storage),
            per_ip=RateLimit("follow-up-ip", settings.rate_limit_follow_up_per_ip, storage),
            phone_failures=RateLimit(
                "phone-failures", settings.rate_limit_follow_up_failures_per_code, storage
            ),
        )

    def require_keys(self) -> FollowUpKeys:
        if self.keys is None:
            raise Problem(503, "Service not configured", "no follow-up key is configured")
        return self.keys

    def unavailable(self, what: str) -> Problem:
        return Problem(
            503,
            "Service unavailable",
            f"{what}; nothing was recorded, retry later",
            headers={"Retry-After": str(self.settings.retry_after_s)},
        )

    def store_failed(self, exc: PyMongoError) -> NoReturn:
        log.warning("store unavailable: %s", type(exc).__name__)
        raise self.unavailable("the store cannot be reached") from exc
