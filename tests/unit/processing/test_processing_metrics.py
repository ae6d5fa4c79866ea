"""Processing's overdue gauge."""

from __future__ import annotations

from prometheus_client import REGISTRY

from processing import metrics


def test_an_agency_with_no_overdue_dossier_left_shows_zero() -> None:
    metrics.set_dossiers_overdue({"UNIT-A": 2, "UNIT-B": 1})
    metrics.set_dossiers_overdue({"UNIT-B": 4})
    value = REGISTRY.get_sample_value
    assert value("hoso_dossiers_overdue", {"agency": "UNIT-A"}) == 0
    assert value("hoso_dossiers_overdue", {"agency": "UNIT-B"}) == 4
