"""Prometheus and Grafana cannot run here, so their files are checked against what they
refer to: the compose services and ports, the provisioned data source, and the metrics
the services really expose."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY

import audit.adapters.checkpointer  # noqa: F401 - registers the audit service's own gauges
import chassis.metrics  # noqa: F401 - registers the metrics every service exposes

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"
SERVICES = {"intake": 8001, "processing": 8002, "notification": 8003, "audit": 8004}
# Sample names Prometheus derives from a family, by the family's type.
SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
}


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    return dict(json.loads((DEPLOY / "grafana" / "dashboards" / "hoso.json").read_text()))


def _panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in dashboard["panels"] if p["type"] != "row"]


def test_prometheus_scrapes_each_service_where_compose_runs_it() -> None:
    scraped = {
        job["job_name"]: target
        for job in _load(DEPLOY / "prometheus.yml")["scrape_configs"]
        for static in job["static_configs"]
        for target in static["targets"]
    }
    compose = _load(ROOT / "docker-compose.yml")["services"]
    assert scraped == {name: f"{name}:{port}" for name, port in SERVICES.items()}
    for name, port in SERVICES.items():
        assert compose[name]["environment"][f"{name.upper()}_HTTP_PORT"] == port


def test_compose_mounts_the_monitoring_files_that_exist() -> None:
    compose = _load(ROOT / "docker-compose.yml")["services"]
    mounts = [*compose["prometheus"]["volumes"], *compose["grafana"]["volumes"]]
    volumes = _load(ROOT / "docker-compose.yml")["volumes"]
    for mount in mounts:
        source = mount.split(":", 1)[0]
        if not source.startswith((".", "/")):
            # A named volume (their data), not a file of the checkout.
            assert source in volumes, source
            continue
        assert (ROOT / source).exists(), source
    provider = _load(DEPLOY / "grafana" / "provisioning" / "dashboards" / "hoso.yml")
    grafana_path = provider["providers"][0]["options"]["path"]
    assert any(mount.split(":")[1] == grafana_path for mount in mounts)


def test_every_panel_queries_the_provisioned_data_source(dashboard: dict[str, Any]) -> None:
    sources = _load(DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml")
    [source] = sources["datasources"]
    assert source["url"] == "http://prometheus:9090"
    for panel in _panels(dashboard):
        assert panel["datasource"]["uid"] == source["uid"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == source["uid"], panel["title"]


def test_every_metric_the_dashboard_queries_is_exposed(dashboard: dict[str, Any]) -> None:
    exposed = {"up"}
    for family in REGISTRY.collect():
        exposed.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ("",)))
    queried = {
        name
        for panel in _panels(dashboard)
        for target in panel["targets"]
        for name in re.findall(r"\b(hoso_[a-z_]+|up)\b", target["expr"])
    }
    assert queried, "the dashboard queries nothing"
    assert queried <= exposed, sorted(queried - exposed)


def test_the_dashboard_shows_what_operators_were_promised(dashboard: dict[str, Any]) -> None:
    queried = " ".join(t["expr"] for p in _panels(dashboard) for t in p["targets"])
    for metric in (
        "hoso_http_requests_total",
        "hoso_http_request_duration_seconds_bucket",
        "hoso_events_produced_total",
        "hoso_events_consumed_total",
        "hoso_event_handler_duration_seconds_bucket",
        "hoso_consumer_lag",
        "hoso_dead_letters_total",
        "hoso_notifications_total",
        "hoso_dossiers_overdue",
    ):
        assert metric in queried, metric
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
