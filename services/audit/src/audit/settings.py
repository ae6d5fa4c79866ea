from pydantic_settings import SettingsConfigDict

from chassis.settings import ServiceSettings


class AuditSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="AUDIT_", extra="ignore")

    service_name: str = "audit"
    http_port: int = 8004
    mongodb_database: str = "audit"
