"""Settings shared by every service.

Each service subclasses `ServiceSettings` with its own env prefix (``INTAKE_``,
``PROCESSING_`` …). A prefixed variable wins; the infrastructure names that every
service shares (``KAFKA_BOOTSTRAP_SERVERS``, ``MONGODB_URI``, ``JWT_JWKS_URL`` …) are also
read without a prefix so one environment can feed all four services.
"""

from __future__ import annotations

import os
import socket

from pydantic import Field, SecretStr, model_validator
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
        "kafka_replication_factor",
        "kafka_min_insync_replicas",
        "mongodb_uri",
        "jwt_jwks_url",
        "jwt_jwks_file",
        "jwt_jwks_cache_s",
        "jwt_jwks_cooldown_s",
        "jwt_issuer",
        "jwt_audience",
        "jwt_leeway_s",
        "otel_exporter_otlp_endpoint",
        "zipkin_endpoint",
        "otel_traces_sampler_ratio",
        "spans_file",
        "log_level",
        "log_json",
        "forwarded_allow_ips",
        "catalogue_path",
        "catalogue_reload_interval_s",
    }
)


class _SharedEnvSource(EnvSettingsSource):
    def __call__(self) -> dict[str, object]:
        return {k: v for k, v in super().__call__().items() if k in SHARED_FIELDS}


def instance_id() -> str:
    for pair in os.environ.get("OTEL_RESOURCE_ATTRIBUTES", "").split(","):
        key, _, value = pair.partition("=")
        if key.strip() == "service.instance.id" and value.strip():
            return value.strip()
    return f"{socket.gethostname()}-{os.getpid()}"


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", env_prefix="HOSO_")

    service_name: str = "hoso"
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    # Reverse proxies whose X-Forwarded-For (and -Proto) are believed: addresses or CIDR
    # networks, comma-separated, "*" for any peer. The client address a request is
    # counted under (rate limits) is then the one the proxy saw, not the proxy's; any
    # other peer's headers are ignored. Read as FORWARDED_ALLOW_IPS, uvicorn's own name.
    forwarded_allow_ips: str = "127.0.0.1"

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    # Lets several environments (or test runs) share one cluster without sharing topics.
    kafka_topic_prefix: str = ""
    # Copies of every record of the topics and dead-letter topics ``ensure_topics``
    # creates, and how many of them must hold a record before the broker acknowledges it
    # (the producers ask for acks=all). Unset: 3 and 2, so a cluster loses a broker without
    # losing an acknowledged event or refusing a write; a lone broker (development, a
    # trial) then gets 1 and 1 with a warning. Set, they are demanded: a cluster with fewer
    # brokers refuses to create the topics (retried until the brokers are back).
    kafka_replication_factor: int | None = Field(default=None, ge=1)
    kafka_min_insync_replicas: int | None = Field(default=None, ge=1)
    kafka_consumer_batch: int = 500
    kafka_handler_attempts: int = 3

    mongodb_uri: SecretStr = SecretStr("mongodb://127.0.0.1:27017")
    mongodb_database: str = "hoso"

    # Public keys only: a service can check a token but never make one. The identity
    # provider's JWKS endpoint (wins when both are set), or a JWKS file re-read when it
    # changes. Neither has a default, so an unconfigured service refuses every token.
    jwt_jwks_url: str | None = None
    jwt_jwks_file: str | None = None
    # How long fetched keys are trusted before the endpoint is asked again, which bounds
    # how long a key the provider dropped keeps being accepted.
    jwt_jwks_cache_s: float = Field(default=300.0, gt=0)
    # At most one fetch per this interval, however many unknown key ids arrive.
    jwt_jwks_cooldown_s: float = Field(default=5.0, ge=0)
    jwt_issuer: str = "hoso-idp"
    jwt_audience: str = "hoso"
    # Clock skew tolerated on exp and nbf.
    jwt_leeway_s: float = Field(default=30.0, ge=0, le=300)

    otel_exporter_otlp_endpoint: str | None = None
    zipkin_endpoint: str | None = None
    otel_traces_sampler_ratio: float = Field(default=1.0, ge=0.0, le=1.0)
    # Test and debugging aid: every finished span appended as one JSON line.
    spans_file: str | None = None

    log_level: str = "INFO"
    log_json: bool = True

    # The procedure catalogue the province edits (docs/catalogue.md): a YAML file outside
    # the package, looked at every interval and on SIGHUP. Unset: the packaged default.
    catalogue_path: str | None = None
    catalogue_reload_interval_s: float = Field(default=5.0, gt=0)

    @model_validator(mode="after")
    def _writable_topics(self) -> ServiceSettings:
        rf, isr = self.kafka_replication_factor, self.kafka_min_insync_replicas
        if rf is not None and isr is not None and isr > rf:
            # With acks=all no write could ever be acknowledged.
            raise ValueError(
                f"KAFKA_MIN_INSYNC_REPLICAS={isr} exceeds KAFKA_REPLICATION_FACTOR={rf}"
            )
        return self

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

    def instance_id(self) -> str:
        """What tells this process from the service's other replicas, in spans
        (``service.instance.id``), logs and Kafka client ids: the one
        ``OTEL_RESOURCE_ATTRIBUTES`` names, else the host name and process id."""
        return instance_id()
