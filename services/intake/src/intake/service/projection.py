"""The citizen-facing status of each dossier, kept from processing's lifecycle events.

Redelivered and out-of-order events, and two replicas handling the same event during a
rebalance, are harmless: the store applies a status only over an older version and a
new appointment only over an older one.
"""

from __future__ import annotations

from chassis.events import DossierApologyIssued, DossierDeadlineExtended, DossierStatusChanged
from intake.ports import StatusStore

__all__ = ["project_new_appointment", "project_status_change"]


async def project_status_change(store: StatusStore, changed: DossierStatusChanged) -> bool:
    """Whether the projection changed."""
    fields: dict[str, object] = {
        "receipt_code": changed.receipt_code,
        "status": changed.new_status,
        "missing_documents": changed.missing_documents or [],
        "missing_items": changed.missing_items or [],
        "updated_at": changed.occurred_at,
    }
    # A status change that does not restate the date keeps the one already known.
    if changed.due_date is not None:
        fields["due_date"] = changed.due_date.isoformat()
    return await store.apply_status(changed.dossier_id, changed.version, fields)


async def project_new_appointment(
    store: StatusStore, event: DossierApologyIssued | DossierDeadlineExtended
) -> bool:
    """An apology slip or an extension moves the appointment; whether it applied."""
    at = event.issued_at if isinstance(event, DossierApologyIssued) else event.occurred_at
    return await store.apply_due_date(event.dossier_id, event.new_due_date.isoformat(), at)
