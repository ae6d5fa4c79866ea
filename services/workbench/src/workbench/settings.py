from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from chassis.settings import ServiceSettings


class WorkbenchSettings(ServiceSettings):
    """The workbench reads the shared names (``JWT_JWKS_URL``, ``JWT_ISSUER``,
    ``FORWARDED_ALLOW_IPS`` …) like the services; its own with ``WORKBENCH_``."""

    model_config = SettingsConfigDict(env_prefix="WORKBENCH_", extra="ignore")

    service_name: str = "workbench"
    http_port: int = 8005

    # The services' public APIs: the workbench has no other way to their data.
    intake_url: str = "http://127.0.0.1:8001"
    processing_url: str = "http://127.0.0.1:8002"
    notification_url: str = "http://127.0.0.1:8003"
    audit_url: str = "http://127.0.0.1:8004"
    api_timeout_s: float = Field(default=10.0, gt=0)

    # The identity provider people sign in at (its /authorize and /token), and this
    # client's registration there: a public client, PKCE in place of a secret.
    idp_url: str = "http://127.0.0.1:8090"
    idp_client_id: str = "hoso-workbench"
    # Where browsers reach the workbench (the redirect URI is built on it). Unset: the
    # address of the request, which is right for one host without a proxy.
    public_url: str | None = None

    # Encrypts and signs the session cookie (a Fernet key: 32 bytes, URL-safe base64).
    # Every replica needs the same key. Unset: a key of this process alone, so sessions
    # do not outlive it (development only; the process warns).
    session_key: SecretStr | None = None
    # A session ends with its access token, and at the latest after this long.
    session_max_s: int = Field(default=8 * 3600, ge=60)

    # Citizens have no token: for the uploads of their supplements the workbench calls
    # intake as a portal client of its own (client credentials, role ``portal``). Unset:
    # the citizens' pages follow dossiers but take no documents.
    portal_client_id: str | None = None
    portal_client_secret: SecretStr | None = None
    # How long a citizen's opened dossier stays open (receipt code and secret in an
    # encrypted cookie) without asking again.
    follow_up_max_s: int = Field(default=30 * 60, ge=60)
