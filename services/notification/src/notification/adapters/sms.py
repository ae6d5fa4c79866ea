"""SMS through the operator's HTTP gateway."""

from __future__ import annotations

import httpx

from chassis.events import DeliveryChannel
from notification.adapters.channels import failure_from_http, failure_from_transport
from notification.service.ports import Outgoing
from notification.settings import NotificationSettings

__all__ = ["SmsGateway"]


class SmsGateway:
    """``POST {sms_gateway_url}`` with ``{"to", "text", "reference"}`` and a bearer token.

    ``reference`` is the delivery id: the gateway drops a reference it has already
    accepted, which is what makes a repeated attempt safe.
    """

    channel = DeliveryChannel.SMS
    idempotent = True

    def __init__(self, settings: NotificationSettings, client: httpx.AsyncClient) -> None:
        if settings.sms_gateway_url is None:
            raise ValueError("SMS gateway URL is not configured")
        self._url = settings.sms_gateway_url
        self._client = client
        self._headers = {"Accept": "application/json"}
        if settings.sms_gateway_token is not None:
            self._headers["Authorization"] = (
                f"Bearer {settings.sms_gateway_token.get_secret_value()}"
            )

    async def send(self, message: Outgoing) -> None:
        body = {
            "to": message.address,
            "text": message.content["text"],
            "reference": message.delivery_id,
        }
        try:
            response = await self._client.post(self._url, json=body, headers=self._headers)
        except httpx.HTTPError as exc:
            raise failure_from_transport(exc, "SMS gateway") from None
        if not response.is_success:
            raise failure_from_http(response, "SMS gateway")
