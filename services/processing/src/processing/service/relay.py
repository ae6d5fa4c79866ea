"""The outbox relay's pass: lease pending outboxes, publish their events, drop them.

Several processing replicas each run a relay on the same database. A pass first takes
a lease on the dossiers it is about to publish, so one dossier's events are sent by one
relay at a time, in order, and once; see docs/processing.md for why a lease rather than
publishing freely and relying on the consumers' de-duplication alone. The loop that
decides when a pass runs is `processing.adapters.relay`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from chassis.events import Envelope
from processing.service.ports import DossierStore, EventPublisher, OutboxClaim, PublishUnavailable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RelayPass:
    # Events the broker acknowledged.
    published: int = 0
    # Named dossiers another relay holds; worth another look once it has let go.
    busy: list[str] = field(default_factory=list)
    # Claimed but not sent, the broker being unavailable; their lease was given back.
    unsent: list[str] = field(default_factory=list)


async def relay_dossiers(
    store: DossierStore, publisher: EventPublisher, dossier_ids: Sequence[str], lease_s: float
) -> RelayPass:
    """Publish the pending events of the named dossiers this pass manages to lease."""
    claim = await store.claim_outboxes(dossier_ids, lease_s)
    return await publish_claim(store, publisher, claim)


async def relay_pending(
    store: DossierStore, publisher: EventPublisher, limit: int, lease_s: float
) -> tuple[list[str], RelayPass]:
    """Find up to ``limit`` pending outboxes and relay them; the ids found, and the pass."""
    found = await store.pending_outboxes(limit)
    return found, await relay_dossiers(store, publisher, found, lease_s)


async def publish_claim(
    store: DossierStore, publisher: EventPublisher, claim: OutboxClaim
) -> RelayPass:
    envelopes: list[Envelope] = []
    carriers: list[Mapping[str, str] | None] = []
    for outbox in claim.outboxes:
        envelopes.extend(Envelope.model_validate(e["event"]) for e in outbox.entries)
        carriers.extend(e.get("trace") for e in outbox.entries)
    if not envelopes:
        # Claimed but empty (a document written without events): drop the lease.
        await store.mark_published(claim)
        return RelayPass(busy=list(claim.busy))
    try:
        await publisher.publish_many(envelopes, trace_carriers=carriers)
    except PublishUnavailable as exc:
        log.warning("outbox relay cannot publish yet: %s", exc)
        # Let another replica, or this one once the broker is back, take them at once.
        await store.release(claim)
        return RelayPass(busy=list(claim.busy), unsent=[o.dossier_id for o in claim.outboxes])
    # A crash here re-publishes these events once the lease runs out; consumers skip
    # them by event id.
    await store.mark_published(claim)
    return RelayPass(published=len(envelopes), busy=list(claim.busy))
