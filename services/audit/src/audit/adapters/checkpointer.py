"""The checkpoint worker: one ``audit.service.checkpointing`` round every few seconds, in
every replica (rounds are idempotent, see there), with its metrics."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from prometheus_client import Counter, Gauge

from audit.domain.checkpoint import Checkpoint
from audit.service.checkpointing import make_checkpoint
from audit.service.ports import AuditLog

CHECKPOINT_SIZE = Gauge("hoso_audit_checkpoint_tree_size", "Tree size of the newest checkpoint")
CHAIN_FAILURES = Counter(
    "hoso_audit_chain_failures_total", "Checkpoint rounds that found the chain broken"
)


class Checkpointer:
    def __init__(
        self,
        store: AuditLog,
        signing_key: Ed25519PrivateKey,
        *,
        log_id: str,
        interval_s: float,
        read_batch: int = 2000,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._key = signing_key
        self._log_id = log_id
        self._interval_s = interval_s
        self._read_batch = read_batch
        self._clock = clock

    async def run(self) -> None:
        """The Runtime worker: one round per interval until cancelled."""
        while True:
            await asyncio.sleep(self._interval_s)
            await self.sign_if_grown()

    async def sign_if_grown(self) -> Checkpoint | None:
        outcome = await make_checkpoint(
            self._store,
            self._key,
            log_id=self._log_id,
            clock=self._clock,
            read_batch=self._read_batch,
        )
        if outcome.failure is not None:
            CHAIN_FAILURES.inc()
        if outcome.checkpoint is not None:
            CHECKPOINT_SIZE.set(outcome.checkpoint.tree_size)
        return outcome.checkpoint
