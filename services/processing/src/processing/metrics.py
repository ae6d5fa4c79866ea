"""Processing's own metrics, beside the chassis's (HTTP, events, lag, dead letters)."""

from __future__ import annotations

import threading
from collections.abc import Mapping

from prometheus_client import Gauge

DOSSIERS_OVERDUE = Gauge(
    "hoso_dossiers_overdue", "Open dossiers past their due date, by agency", ["agency"]
)

_lock = threading.Lock()
_overdue_agencies: set[str] = set()


def set_dossiers_overdue(by_agency: Mapping[str, int]) -> None:
    """Set the overdue count of every agency; one that has none left shows 0, not its
    last count."""
    with _lock:
        for agency in _overdue_agencies - set(by_agency):
            DOSSIERS_OVERDUE.labels(agency).set(0)
        _overdue_agencies.update(by_agency)
        for agency, count in by_agency.items():
            DOSSIERS_OVERDUE.labels(agency).set(count)
