"""Settings of the notification service (environment prefix ``NOTIFICATION_``).

A channel whose settings are missing is switched off, not faked: no SMTP host means no
email, no gateway URL means no SMS, no portal URL means no inbox webhook. The service
says at start which channels it runs with.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from chassis.settings import ServiceSettings
from notification.domain.messages import DEFAULT_LOOKUP_URL


class NotificationSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFICATION_", extra="ignore")

    service_name: str = "notification"
    http_port: int = 8003
    mongodb_database: str = "notification"

    # Email. An empty host switches email off.
    smtp_host: str | None = "127.0.0.1"
    smtp_port: int = Field(default=1025, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    smtp_implicit_tls: bool = False
    mail_from: str = "Sở Nông nghiệp và Môi trường <no-reply@snnmt.example.gov.vn>"

    # SMS through the operator's HTTP gateway: JSON POST {to, text, reference}.
    sms_gateway_url: str | None = None
    sms_gateway_token: SecretStr | None = None

    # The citizen portal's inbox. Secrets are tried newest first by the portal; while a
    # secret is rotated both are listed and every delivery carries one MAC per secret.
    portal_webhook_url: str | None = None
    webhook_secrets: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)

    # Makes delivery keys HMACs, so the delivery log's keys cannot be matched against a
    # list of phone numbers. Changing it re-keys deliveries of events consumed later.
    delivery_key_pepper: SecretStr | None = None

    # The public status look-up page every notice points to.
    lookup_url: str = DEFAULT_LOOKUP_URL

    # Retries: exponential backoff with full jitter between attempts, bounded count.
    max_attempts: int = Field(default=6, ge=1, le=50)
    retry_initial_s: float = Field(default=2.0, gt=0)
    retry_max_s: float = Field(default=600.0, gt=0)
    # The consumer makes the first attempt itself but waits only this long, so a slow
    # gateway holds up a batch for seconds at most; later attempts belong to the worker.
    first_attempt_timeout_s: float = Field(default=5.0, gt=0)
    send_timeout_s: float = Field(default=20.0, gt=0)
    # After a transient failure on a channel, first attempts on it are left to the retry
    # worker for this long instead of being tried (and timing out) inside the consumer.
    inline_pause_s: float = Field(default=30.0, ge=0)
    # A delivery left in 'sending' longer than this belonged to a process that died.
    sending_lease_s: float = Field(default=120.0, gt=0)
    # How long an outcome may stay unpublished before the worker publishes it itself.
    publish_grace_s: float = Field(default=60.0, ge=0)
    # How often the retry worker asks the store (index range scans) for due retries,
    # abandoned attempts and unpublished outcomes, whichever replica left them.
    retry_poll_s: float = Field(default=1.0, gt=0)
    retry_batch: int = Field(default=100, ge=1, le=1000)
    delivery_concurrency: int = Field(default=32, ge=1, le=512)

    # docker-compose passes every variable, blank when .env leaves it so: a blank SMTP
    # user must mean "no login", not a login with an empty name.
    @field_validator(
        "smtp_host",
        "smtp_username",
        "smtp_password",
        "sms_gateway_url",
        "sms_gateway_token",
        "portal_webhook_url",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("webhook_secrets", mode="before")
    @classmethod
    def _secret_list(cls, value: Any) -> Any:
        # One environment variable: a JSON list or comma-separated secrets.
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @model_validator(mode="after")
    def _webhook_needs_a_secret(self) -> NotificationSettings:
        # An unsigned inbox webhook would let anyone who finds the portal URL write to
        # citizens' inboxes; refuse to start rather than send one.
        if self.portal_webhook_url and not self.webhook_secrets:
            raise ValueError("portal_webhook_url is set but webhook_secrets is empty")
        if self.retry_max_s < self.retry_initial_s:
            raise ValueError("retry_max_s must not be smaller than retry_initial_s")
        if self.sending_lease_s <= self.send_timeout_s:
            raise ValueError("sending_lease_s must be longer than send_timeout_s")
        return self

    @property
    def email_enabled(self) -> bool:
        return self.smtp_host is not None

    @property
    def sms_enabled(self) -> bool:
        return self.sms_gateway_url is not None

    @property
    def webhook_enabled(self) -> bool:
        return self.portal_webhook_url is not None
