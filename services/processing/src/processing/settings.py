from pydantic_settings import SettingsConfigDict

from chassis.settings import ServiceSettings


class ProcessingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PROCESSING_", extra="ignore")

    service_name: str = "processing"
    http_port: int = 8002
    mongodb_database: str = "processing"
    outbox_poll_interval_s: float = 0.2
