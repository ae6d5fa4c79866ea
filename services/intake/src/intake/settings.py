"""Intake's settings: the shared infrastructure names plus intake's own limits and keys."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from chassis.settings import ServiceSettings

# What a scanned paper document or a signed electronic one usually is; anything else
# (archives, executables, office macros) is refused at the door.
DEFAULT_MEDIA_TYPES = (
    "application/pdf",
    "image/jpeg",
    "image/png",
    "image/tiff",
    "application/xml",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
)


class IntakeSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="INTAKE_", extra="ignore")

    service_name: str = "intake"
    http_port: int = 8001
    mongodb_database: str = "intake"

    # Fernet key that encrypts denouncers' identities. Without it intake refuses
    # denunciations rather than store an identity in the clear.
    identity_key: SecretStr | None = None
    # Server key behind follow-up secrets and the stored phone hashes, a secret of its own
    # (at least 16 bytes). Without it the citizen's follow-up answers 503; changing it
    # invalidates the follow-up secret of every dossier in progress.
    follow_up_key: SecretStr | None = None

    # `limits` notation; several limits may be joined with ";".
    rate_limit_per_client: str = "20/second;600/minute"
    rate_limit_follow_up_per_ip: str = "30/minute"
    # Guessing the phone number of a known receipt code: counted per code, whether the
    # code exists or not, so the limit itself reveals nothing.
    rate_limit_follow_up_failures_per_code: str = "10/hour"
    # "memory://" keeps counters per process; "redis://…" shares them between replicas.
    rate_limit_storage: str = "memory://"

    attachment_max_count: int = Field(default=30, ge=0)
    attachment_max_bytes: int = Field(default=25 * 1024 * 1024, gt=0)
    attachment_max_total_bytes: int = Field(default=200 * 1024 * 1024, gt=0)
    attachment_media_types: tuple[str, ...] = DEFAULT_MEDIA_TYPES
    # Uploaded files nobody's submission referenced are deleted after this long (and
    # the chunks of an upload a crash cut short), by a sweep every `document_sweep_every_s`.
    document_unreferenced_ttl_s: int = Field(default=24 * 3600, ge=60)
    document_sweep_every_s: float = Field(default=600.0, gt=0)
    # The agency's key and certificate that sign result documents (PAdES), as PKCS#12.
    # Without them approved dossiers get no result document: the issuing consumer
    # dead-letters their approvals, to be replayed once the key is configured.
    signing_pkcs12: str | None = None
    signing_pkcs12_password: SecretStr | None = None
    content_max_chars: int = Field(default=10_000, gt=0)
    max_body_bytes: int = Field(default=512 * 1024, gt=0)

    # How long a request that is publishing holds its submission against a concurrent
    # retry with the same Idempotency-Key; longer than the publisher's send timeout.
    publish_lease_s: float = Field(default=15.0, gt=0)
    retry_after_s: int = Field(default=5, ge=1)

    # The receipt-and-appointment slip (giấy tiếp nhận hồ sơ và hẹn trả kết quả):
    # where the citizen follows the dossier up, with "{receipt_code}" where the code goes
    # (https://dichvucong.example.vn/tra-cuu?ma={receipt_code}); the slip's QR code holds
    # this URL, or the bare receipt code when unset. Never the follow-up secret.
    follow_up_url: str | None = Field(default=None, pattern=r"^https?://\S*\{receipt_code\}")
    # A letter is keyed in at most this many days after the department received it.
    post_received_max_days: int = Field(default=30, ge=0)
