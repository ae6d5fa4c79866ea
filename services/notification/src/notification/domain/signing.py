"""Signatures on webhook deliveries to the citizen portal inbox.

The scheme follows Stripe and Svix: ``X-Hoso-Signature: t=<unix ts>,v1=<hex>``
with an HMAC-SHA256 over ``f"{t}.".encode() + body``. The MAC itself comes from
:mod:`notification.webhook_verify`, the helper the portal team verifies with,
so signer and verifier cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Sequence

from notification.webhook_verify import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    SIGNATURE_SCHEME,
    compute_mac,
)

__all__ = [
    "DELIVERY_HEADER",
    "SIGNATURE_HEADER",
    "sign",
    "sign_rotating",
    "webhook_headers",
]


def sign(body: bytes, secret: bytes, timestamp: int) -> str:
    """Value of the ``X-Hoso-Signature`` header for ``body`` signed at ``timestamp``."""
    return sign_rotating(body, [secret], timestamp)


def sign_rotating(body: bytes, secrets: Sequence[bytes], timestamp: int) -> str:
    """Signature header with one ``v1`` entry per secret.

    During a secret rotation the service holds the new and the old secret and
    signs with both, so the portal keeps verifying whichever one it has until
    it switches over; duplicates are dropped so the header stays short.
    """
    if isinstance(secrets, bytes | bytearray | str):
        raise TypeError("secrets must be a sequence of secrets, not a single secret")
    if not secrets:
        raise ValueError("at least one webhook secret is required")
    macs = list(dict.fromkeys(compute_mac(body, secret, timestamp) for secret in secrets))
    entries = [f"t={timestamp}", *(f"{SIGNATURE_SCHEME}={mac}" for mac in macs)]
    return ",".join(entries)


def webhook_headers(
    body: bytes,
    secrets: Sequence[bytes],
    delivery_id: str,
    timestamp: int,
) -> dict[str, str]:
    """Both headers of a delivery; ``delivery_id`` must be stable across retries."""
    if not delivery_id.strip() or "\r" in delivery_id or "\n" in delivery_id:
        # A line break would let the delivery id smuggle extra headers in.
        raise ValueError("delivery_id must be a non-empty single line")
    return {
        SIGNATURE_HEADER: sign_rotating(body, secrets, timestamp),
        DELIVERY_HEADER: delivery_id,
    }
