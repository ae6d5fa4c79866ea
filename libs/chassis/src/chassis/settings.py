"""Settings shared by every service.

Each service subclasses `ServiceSettings` with its own env prefix (``INTAKE_``,
``PROCESSING_`` …). A prefixed variable wins; the infrastructure names that every
service shares (``KAFKA_BOOTSTRAP_SERVERS``, ``MONGODB_URI``, ``JWT_SECRET`` …) are also
read without a prefix so one environment can feed all four services.
"""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

# Infrastructure names read without a service prefix; everything else needs the prefix so
# a stray ``HTTP_PORT`` in the environment cannot move every service at once.
SHARED_FIELDS = frozenset(
    {
        "kafka_bootstrap_servers",
        "kafka_topic_prefix",
        "mongodb_uri",
        "jwt_secret",
        "jwt_issuer",
        "jwt_audience",
        "otel_exporter_otlp_endpoint",
        "zipkin_endpoint",
        "otel_traces_sampler_ratio",
        "spans_file",
        "log_level",
        "log_json",
    }
)


class _SharedEnvSource(EnvSettingsSource):
    def __call__(self) -> dict[str, object]:
        return {k: v for k, v in super().__call__().items() if k in SHARED_FIELDS}


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", env_prefix="HOSO_")

    service_name: str = "hoso"
    http_host: str = "127.0.0.1"
    http_port: int = 8000

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    # Lets several environments (or test runs) share one cluster without sharing topics.
    kafka_topic_prefix: str = ""
    kafka_consumer_batch: int = 500
    kafka_handler_attempts: int = 3

    mongodb_uri: SecretStr = SecretStr("mongodb://127.0.0.1:27017")
    mongodb_database: str = "hoso"

    # HS256 secret shared with the identity provider; never has a default so a service
    # cannot start with a guessable one.
    jwt_secret: SecretStr | None = None
    jwt_issuer: str = "hoso-idp"
    jwt_audience: str = "hoso"

    otel_exporter_otlp_endpoint: str | None = None
    zipkin_endpoint: str | None = None
    otel_traces_sampler_ratio: float = Field(default=1.0, ge=0.0, le=1.0)
    # Test and debugging aid: every finished span appended as one JSON line.
    spans_file: str | None = None

    log_level: str = "INFO"
    log_json: bool = True

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        shared_env = _SharedEnvSource(settings_cls, env_prefix="", case_sensitive=False)
        return init_settings, env_settings, shared_env, dotenv_settings, file_secret_settings

    def topic(self, name: str) -> str:
        return f"{self.kafka_topic_prefix}{name}"
