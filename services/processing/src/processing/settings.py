from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from chassis.settings import ServiceSettings


class ProcessingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PROCESSING_", extra="ignore")

    service_name: str = "processing"
    http_port: int = 8002
    mongodb_database: str = "processing"
    # Every write wakes its own process's relay at once; the poll only catches events
    # left by a crash or a relay that lost its lease, so it can be slow.
    outbox_poll_interval_s: float = Field(default=10.0, gt=0)
    # How long a relay pass holds the outboxes it claimed; another replica's relay takes
    # them over only after this, so it must outlast a publish (10 s at most) by far.
    outbox_lease_s: float = Field(default=30.0, gt=10)

    # How often the deadline scan looks for overdue dossiers.
    deadline_scan_interval_s: float = Field(default=300.0, gt=0)

    # Key of the hashes officers find a dossier by the applicant's phone or ID number
    # with (HMAC-SHA256; at least 16 bytes). Without it the dossiers are stored without
    # them and that search answers 503; changing it loses the search of every dossier
    # received before.
    search_key: SecretStr | None = Field(default=None, min_length=16)

    # The public statistics are cached this long; 0 turns the cache off.
    statistics_cache_s: float = Field(default=30.0, ge=0)
    # The longest period one statistics request may cover.
    statistics_max_days: int = Field(default=366, ge=1)

    queue_page_max: int = Field(default=100, ge=1)

    # TEST ONLY: exit the process right after a state change is written to the store and
    # before anything is sent to Kafka, to prove that no event is lost or duplicated.
    # Never set it outside the crash test.
    test_crash_after_store_write: bool = False
