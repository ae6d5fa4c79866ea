"""How the HTTP channels (SMS gateway, portal webhook) turn an answer or a transport
error into the `DeliveryFailure` of the channel port (`notification.service.ports`)."""

from __future__ import annotations

import httpx

from notification.domain.retry import http_status_is_transient
from notification.service.ports import DeliveryFailure

__all__ = ["failure_from_http", "failure_from_transport"]


def failure_from_http(response: httpx.Response, what: str) -> DeliveryFailure:
    status = response.status_code
    retry_after: float | None = None
    header = response.headers.get("Retry-After", "")
    if header.strip().isdigit():
        retry_after = float(header.strip())
    return DeliveryFailure(
        f"{what} answered HTTP {status}",
        transient=http_status_is_transient(status),
        retry_after_s=retry_after,
    )


def failure_from_transport(exc: httpx.HTTPError, what: str) -> DeliveryFailure:
    # Connection refused, reset, DNS and timeouts: the request may never have arrived.
    return DeliveryFailure(f"{what} unreachable: {type(exc).__name__}", transient=True)
