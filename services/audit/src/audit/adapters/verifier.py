"""``LogVerifier``: the verification use case bound to one store and key, for callers outside
the service that hold a store (the benchmark); the service itself and the command line call
``audit.service.verification`` directly."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from audit.service.ports import AuditLog
from audit.service.verification import RangeVerification, verify_range


class LogVerifier:
    def __init__(
        self, store: AuditLog, public_key: Ed25519PublicKey | None, *, read_batch: int = 2000
    ) -> None:
        self._store = store
        self._public_key = public_key
        self._read_batch = read_batch

    async def verify(self, from_seq: int = 1, to_seq: int | None = None) -> RangeVerification:
        return await verify_range(
            self._store, self._public_key, from_seq, to_seq, read_batch=self._read_batch
        )
