"""Verify webhook deliveries from the dossier notification service.

This module is for the citizen portal team. It depends on the Python standard
library only, so it can be copied into the portal's code base as a single file.

Every delivery to the portal inbox is an HTTP POST carrying two headers:

``X-Hoso-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>[,v1=<hex>...]``
    The MAC is computed with the shared secret over ``f"{t}.".encode() + body``,
    where ``body`` is the raw request body exactly as received. While the
    secret is being rotated the service signs with both the old and the new
    secret and sends one ``v1`` entry for each; a delivery is genuine when any
    entry matches any secret the portal holds. Unknown schemes (``v0``, ``v2``)
    are ignored so that a later scheme can be introduced without breaking you.

``X-Hoso-Delivery: <delivery id>``
    Stable across retries of the same notification. Use it to make processing
    idempotent.

How to use it::

    from webhook_verify import (
        DuplicateDelivery,
        InvalidSignature,
        ReplayGuard,
        verify_delivery,
    )

    guard = ReplayGuard()  # one per process, kept for the life of the process

    def handle(request):
        try:
            verify_delivery(
                request.body,  # raw bytes, before any JSON parsing
                request.headers,
                secret=SECRET,  # or (NEW_SECRET, OLD_SECRET) while rotating
                guard=guard,
            )
        except DuplicateDelivery:
            return 200  # already processed: acknowledge so retries stop
        except InvalidSignature as exc:
            log.warning("rejected webhook: %s", exc.reason)
            return 400
        try:
            store_in_inbox(json.loads(request.body))
        except Exception:
            guard.forget(request.headers["X-Hoso-Delivery"])  # let the retry in
            return 503
        return 200

Why the replay guard is needed: the timestamp check only bounds *when* a
captured request can be replayed, not *whether*. Within the tolerance window a
recorded request still verifies, so the portal must also remember what it has
accepted during that window. The delivery id header is not covered by the MAC,
so :func:`verify_delivery` remembers both the delivery id (to absorb the
service's own retries) and the signed content itself (so that resending a
captured request under a made-up delivery id is still caught).
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping

__all__ = [
    "DEFAULT_TOLERANCE_S",
    "DELIVERY_HEADER",
    "SIGNATURE_HEADER",
    "SIGNATURE_SCHEME",
    "DuplicateDelivery",
    "InvalidSignature",
    "ReplayGuard",
    "compute_mac",
    "parse_signature_header",
    "verify",
    "verify_delivery",
]

SIGNATURE_HEADER = "X-Hoso-Signature"
DELIVERY_HEADER = "X-Hoso-Delivery"
SIGNATURE_SCHEME = "v1"
DEFAULT_TOLERANCE_S = 300

# Bounds on attacker-controlled input: a header stuffed with thousands of
# entries would otherwise cost one HMAC per entry and per secret.
_MAX_HEADER_LENGTH = 4096
_MAX_SIGNATURES = 8
_HEX_DIGITS = frozenset("0123456789abcdef")
_MAC_HEX_LENGTH = hashlib.sha256().digest_size * 2
_ID_PREFIX = "id:"
_DIGEST_PREFIX = "sig:"


class InvalidSignature(Exception):
    """The delivery is not provably from the notification service.

    ``reason`` is a short, stable code suitable for logs and metrics:
    ``missing_header``, ``malformed_header``, ``timestamp_too_old``,
    ``timestamp_in_future``, ``signature_mismatch`` or ``duplicate_delivery``.
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class DuplicateDelivery(InvalidSignature):
    """The delivery was already accepted within the replay window.

    Either the service retried a delivery the portal had already processed, or
    someone replayed a captured request. In both cases the right answer is to
    acknowledge (2xx) without processing it again.
    """

    def __init__(self, detail: str) -> None:
        super().__init__("duplicate_delivery", detail)


def compute_mac(body: bytes, secret: bytes, timestamp: int) -> str:
    """Hex HMAC-SHA256 of ``f"{timestamp}.".encode() + body`` under ``secret``."""
    body = _require_bytes("body", body)
    secret = _require_bytes("secret", secret)
    if not secret:
        raise ValueError("the webhook secret must not be empty")
    if isinstance(timestamp, bool) or not isinstance(timestamp, int) or timestamp < 0:
        raise ValueError("timestamp must be a non-negative unix time in seconds")
    message = f"{timestamp}.".encode("ascii") + body
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def parse_signature_header(header: str | None) -> tuple[int, list[str]]:
    """Split a signature header into its timestamp and its ``v1`` MACs.

    Raises :class:`InvalidSignature` when the header is missing or malformed.
    """
    if header is None or not header.strip():
        raise InvalidSignature("missing_header", f"no {SIGNATURE_HEADER} header")
    if len(header) > _MAX_HEADER_LENGTH:
        raise InvalidSignature("malformed_header", "signature header is too long")

    timestamp: int | None = None
    macs: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            raise InvalidSignature("malformed_header", f"expected key=value, got {item!r}")
        if key == "t":
            if timestamp is not None:
                raise InvalidSignature("malformed_header", "more than one timestamp")
            if not value.isascii() or not value.isdigit():
                raise InvalidSignature("malformed_header", "timestamp is not a unix time")
            timestamp = int(value)
        elif key == SIGNATURE_SCHEME:
            mac = value.lower()
            if len(mac) != _MAC_HEX_LENGTH or not set(mac) <= _HEX_DIGITS:
                raise InvalidSignature("malformed_header", "v1 signature is not a SHA-256 hex MAC")
            macs.append(mac)
        # Other schemes are skipped on purpose, see the module docstring.

    if timestamp is None:
        raise InvalidSignature("malformed_header", "no timestamp (t=) in signature header")
    if not macs:
        raise InvalidSignature("malformed_header", "no v1 signature in signature header")
    if len(macs) > _MAX_SIGNATURES:
        raise InvalidSignature("malformed_header", "too many v1 signatures")
    return timestamp, macs


def verify(
    body: bytes,
    header: str | None,
    secret: bytes | Iterable[bytes],
    tolerance_s: int = DEFAULT_TOLERANCE_S,
    now: int | None = None,
) -> None:
    """Check that ``body`` was signed by the notification service recently.

    ``body`` must be the raw request body: re-serialised JSON will not match.
    ``secret`` may be several secrets while the portal rotates its own copy.
    Returns ``None`` on success and raises :class:`InvalidSignature` otherwise.
    """
    _verify_signed(body, header, secret, tolerance_s, now)


def verify_delivery(
    body: bytes,
    headers: Mapping[str, str],
    secret: bytes | Iterable[bytes],
    guard: ReplayGuard,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
    now: int | None = None,
) -> str | None:
    """Verify a delivery and refuse one that was already accepted.

    Returns the delivery id (``None`` if the service sent none). Raises
    :class:`DuplicateDelivery` for a repeat and :class:`InvalidSignature` for
    anything not signed by the service. Nothing is remembered for a delivery
    whose signature fails, so forged requests cannot fill the guard. If the
    portal then fails to process the delivery, it should answer 5xx and call
    ``guard.forget(delivery_id)`` so that the service's retry is accepted.
    """
    body = _require_bytes("body", body)
    timestamp = _verify_signed(body, _header(headers, SIGNATURE_HEADER), secret, tolerance_s, now)
    delivery_id = (_header(headers, DELIVERY_HEADER) or "").strip() or None
    signed_digest = hashlib.sha256(f"{timestamp}.".encode("ascii") + body).hexdigest()
    guard.check_and_remember(delivery_id, signed_digest=signed_digest, now=now)
    return delivery_id


class ReplayGuard:
    """Remembers accepted deliveries for ``ttl_s`` seconds, in memory.

    Two things are remembered per delivery. The delivery id absorbs the
    service's own retries, which reuse the id but carry a fresh timestamp. The
    digest of the signed content (timestamp and body) stops a captured request
    from being resent under a made-up delivery id: that header is not covered
    by the MAC, the signed content is.

    ``ttl_s`` must cover every moment a captured request could still pass the
    timestamp check: the tolerance applies on both sides of the signing time,
    hence the default of twice the default tolerance. When more than
    ``max_entries`` entries are live the oldest are forgotten first; size it
    above the number of deliveries expected within ``ttl_s``. A guard protects
    one process only: a portal running several workers should share the
    memory of delivery ids, for instance through a unique index on the id.
    """

    def __init__(self, ttl_s: int = 2 * DEFAULT_TOLERANCE_S, max_entries: int = 100_000) -> None:
        if ttl_s <= 0:
            raise ValueError("ttl_s must be positive")
        if max_entries <= 0:
            raise ValueError("max_entries must be positive")
        self._ttl_s = ttl_s
        self._max_entries = max_entries
        self._expiry: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def check_and_remember(
        self,
        delivery_id: str | None,
        *,
        signed_digest: str | None = None,
        now: float | None = None,
    ) -> None:
        """Raise :class:`DuplicateDelivery` if either key is live, else remember both."""
        keys = []
        if delivery_id:
            keys.append(("delivery id", _ID_PREFIX + delivery_id))
        if signed_digest:
            keys.append(("signed content", _DIGEST_PREFIX + signed_digest))
        if not keys:
            raise ValueError("a delivery id or a signed digest is required")
        moment = time.time() if now is None else now
        with self._lock:
            self._forget_expired(moment)
            for label, key in keys:
                if key in self._expiry:
                    raise DuplicateDelivery(f"{label} already accepted within the replay window")
            for _, key in keys:
                self._expiry[key] = moment + self._ttl_s
                self._expiry.move_to_end(key)
            while len(self._expiry) > self._max_entries:
                self._expiry.popitem(last=False)

    def seen(self, delivery_id: str, now: float | None = None) -> bool:
        """Whether ``delivery_id`` was accepted and is still remembered."""
        moment = time.time() if now is None else now
        with self._lock:
            expires_at = self._expiry.get(_ID_PREFIX + delivery_id)
            return expires_at is not None and expires_at > moment

    def forget(self, delivery_id: str) -> None:
        """Accept the next delivery with this id, e.g. after processing failed."""
        with self._lock:
            self._expiry.pop(_ID_PREFIX + delivery_id, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._expiry)

    def _forget_expired(self, moment: float) -> None:
        # All entries share one TTL and are kept in insertion order, so expiry
        # order follows insertion order and the scan stops at the first live one.
        while self._expiry:
            key, expires_at = next(iter(self._expiry.items()))
            if expires_at > moment:
                break
            del self._expiry[key]


def _verify_signed(
    body: bytes,
    header: str | None,
    secret: bytes | Iterable[bytes],
    tolerance_s: int,
    now: int | None,
) -> int:
    body = _require_bytes("body", body)
    if tolerance_s < 0:
        raise ValueError("tolerance_s must not be negative")
    secrets = _secrets(secret)
    timestamp, macs = parse_signature_header(header)

    current = int(time.time()) if now is None else int(now)
    if timestamp < current - tolerance_s:
        raise InvalidSignature(
            "timestamp_too_old",
            f"signed {current - timestamp}s ago, tolerance is {tolerance_s}s",
        )
    if timestamp > current + tolerance_s:
        raise InvalidSignature(
            "timestamp_in_future",
            f"signed {timestamp - current}s ahead, tolerance is {tolerance_s}s",
        )

    matched = False
    for key in secrets:
        expected = compute_mac(body, key, timestamp)
        for mac in macs:
            # Accumulate instead of returning early so the work done does not
            # depend on which entry matched.
            matched |= hmac.compare_digest(expected, mac)
    if not matched:
        raise InvalidSignature("signature_mismatch", "no v1 signature matches the shared secret")
    return timestamp


def _secrets(secret: bytes | Iterable[bytes]) -> list[bytes]:
    if isinstance(secret, bytes | bytearray | memoryview):
        secrets = [bytes(secret)]
    elif isinstance(secret, str):
        raise TypeError("the webhook secret must be bytes, e.g. secret.encode()")
    else:
        secrets = list(secret)
    if not secrets:
        raise ValueError("at least one webhook secret is required")
    checked = [_require_bytes("secret", item) for item in secrets]
    if not all(checked):
        raise ValueError("the webhook secret must not be empty")
    return checked


def _require_bytes(name: str, value: object) -> bytes:
    if not isinstance(value, bytes | bytearray | memoryview):
        raise TypeError(
            f"{name} must be bytes, got {type(value).__name__}; "
            "pass the raw request body and the secret as bytes"
        )
    return bytes(value)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    # Frameworks differ in header casing; HTTP header names are case-insensitive.
    lowered = name.lower()
    for key, candidate in headers.items():
        if key.lower() == lowered:
            return candidate
    return None
