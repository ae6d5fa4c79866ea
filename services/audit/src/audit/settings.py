"""The audit service's settings: the shared infrastructure names plus its keys and limits."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from chassis.settings import ServiceSettings


class AuditSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="AUDIT_", extra="ignore")

    service_name: str = "audit"
    http_port: int = 8004
    mongodb_database: str = "audit"

    # Ed25519 private key that signs checkpoints: PKCS#8 PEM (newlines may be written as
    # "\n") or base64 of the raw 32-byte seed; `python -m audit.cli keygen` makes one. Without
    # it the service signs with a key that lives only as long as the process.
    signing_key: SecretStr | None = None
    # Fernet key(s) encrypting personal data inside entries, comma-separated, the encrypting
    # key first so an old key can still decrypt after a rotation. Without one, personal data
    # is masked irreversibly before sealing and nobody can read it back.
    pii_key: SecretStr | None = None
    # Names the log inside every signed checkpoint, so a checkpoint of one deployment cannot
    # pass for another's.
    log_id: str = Field(default="hoso-audit", min_length=1, max_length=64)

    checkpoint_interval_s: float = Field(default=60.0, gt=0)
    # The defaults of the maximums are the bounds the API publishes (its OpenAPI document is
    # the same for every deployment), so a deployment may lower them but not raise them.
    page_size_default: int = Field(default=100, ge=1, le=1000)
    page_size_max: int = Field(default=1000, ge=1, le=1000)
    trail_size_max: int = Field(default=5000, ge=1, le=5000)
    # Documents fetched per round trip when exporting or verifying.
    read_batch: int = Field(default=2000, ge=1)

    # Verifying issued documents (POST /v1/documents/verify, public). The CA certificates
    # (PEM bundle) a signer's certificate must chain to: the province's in production, the
    # test CA `make run` makes locally. Without it no signature is trusted (warning).
    document_trust_roots: Path | None = None
    # The largest PDF accepted, and how many signatures are validated at once (each parses
    # a whole PDF: the CPU a public caller can take).
    document_max_bytes: int = Field(default=25 * 1024 * 1024, ge=1024)
    document_verify_concurrency: int = Field(default=2, ge=1, le=64)
