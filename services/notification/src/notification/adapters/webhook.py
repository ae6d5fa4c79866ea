"""Signed webhook to the citizen portal's inbox."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx

from chassis.events import DeliveryChannel
from notification.adapters.channels import failure_from_http, failure_from_transport
from notification.domain.signing import webhook_headers
from notification.service.ports import Outgoing
from notification.settings import NotificationSettings

__all__ = ["PortalWebhook", "webhook_body"]


def webhook_body(payload: dict[str, Any]) -> bytes:
    """The exact bytes that are signed and sent; compact and key-sorted so the same
    notice always serialises the same way."""
    return json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


class PortalWebhook:
    """``POST {portal_webhook_url}`` with the inbox item as JSON, signed with every
    configured secret (``X-Hoso-Signature``) and carrying ``X-Hoso-Delivery``, by which
    the portal drops a delivery it has already stored."""

    channel = DeliveryChannel.WEBHOOK
    idempotent = True

    def __init__(
        self,
        settings: NotificationSettings,
        client: httpx.AsyncClient,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if settings.portal_webhook_url is None or not settings.webhook_secrets:
            raise ValueError("portal webhook URL and secrets are not configured")
        self._url = settings.portal_webhook_url
        self._secrets = [s.get_secret_value().encode() for s in settings.webhook_secrets]
        self._client = client
        self._clock = clock

    async def send(self, message: Outgoing) -> None:
        body = webhook_body(message.content["payload"])
        # Signed at send time, not at render time: a retry an hour later must still
        # fall inside the portal's timestamp tolerance.
        headers = webhook_headers(body, self._secrets, message.delivery_id, int(self._clock()))
        headers["Content-Type"] = "application/json"
        try:
            response = await self._client.post(self._url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise failure_from_transport(exc, "portal webhook") from None
        if not response.is_success:
            raise failure_from_http(response, "portal webhook")
