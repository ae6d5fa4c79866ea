"""Processing's service layer: the use cases and the ports they need.

No web framework, broker client or database driver is imported here; the adapters
(`processing.adapters`) implement the ports and call these use cases, and `processing.main`
wires them together.
"""

from processing.service.dossiers import (
    DEFAULT_QUEUE_STATUSES,
    DossierNotVisible,
    InvalidPeriod,
    NamedTally,
    Officer,
    ProcessingService,
    QueueEntry,
    QueuePage,
    QueueQuery,
    QueueSort,
    ScanReport,
    SearchQuery,
    SearchUnavailable,
    Statistics,
    Submission,
    VersionMismatch,
)
from processing.service.lookup import ApplicantLookup, InvalidLookup
from processing.service.outbox import SOURCE, outbox_entries
from processing.service.relay import RelayPass, publish_claim, relay_dossiers, relay_pending

__all__ = [
    "DEFAULT_QUEUE_STATUSES",
    "SOURCE",
    "ApplicantLookup",
    "DossierNotVisible",
    "InvalidLookup",
    "InvalidPeriod",
    "NamedTally",
    "Officer",
    "ProcessingService",
    "QueueEntry",
    "QueuePage",
    "QueueQuery",
    "QueueSort",
    "RelayPass",
    "ScanReport",
    "SearchQuery",
    "SearchUnavailable",
    "Statistics",
    "Submission",
    "VersionMismatch",
    "outbox_entries",
    "publish_claim",
    "relay_dossiers",
    "relay_pending",
]
