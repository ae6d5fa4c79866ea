"""Reloading the catalogue without a release: a new version for new dossiers, every
version kept, a broken file refused with the version in force kept, each activation
announced once for the audit trail."""

from __future__ import annotations

import asyncio
import copy
import os
import signal
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY

from chassis.catalogue import Catalogue, CatalogueChange, CatalogueError, CatalogueHolder
from chassis.catalogue.holder import activation_event
from chassis.events import CatalogueVersionActivated, Topics, decode, encode
from chassis.settings import ServiceSettings

DATA_FILE = Path(__file__).parents[3] / "libs/chassis/src/chassis/catalogue/procedures.yaml"
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
PACKAGED: dict[str, Any] = yaml.load(DATA_FILE.read_text(encoding="utf-8"), Loader=_LOADER)  # noqa: S506
SERVICE = "holder-test"


def write(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.dump(data, Dumper=_DUMPER, allow_unicode=True), encoding="utf-8")
    return path


def edited(version: str, **days: int) -> dict[str, Any]:
    """The packaged data under another version, with some procedures' processing_days."""
    data = copy.deepcopy(PACKAGED)
    data["version"] = version
    for item in data["procedures"]:
        if item["code"] in days:
            item["processing_days"] = days[item["code"]]
    return data


def failures(reason: str) -> float:
    value = REGISTRY.get_sample_value(
        "hoso_catalogue_reload_failures_total", {"service": SERVICE, "reason": reason}
    )
    return value or 0.0


@pytest.fixture
def catalogue_file(tmp_path: Path) -> Path:
    return write(tmp_path / "catalogue.yaml", edited("2027.1.0"))


@pytest.fixture
def holder(catalogue_file: Path) -> CatalogueHolder:
    return CatalogueHolder(catalogue_file, service=SERVICE, interval_s=3600)


def test_a_changed_file_becomes_the_current_version(
    holder: CatalogueHolder, catalogue_file: Path
) -> None:
    first = holder.current
    assert holder.get("DD-003") is first.procedures["DD-003"]
    write(catalogue_file, edited("2027.1.1", **{"DD-003": 12}))

    assert holder.refresh()

    assert holder.version == "2027.1.1"
    assert holder.procedures["DD-003"].processing_days == 12
    assert holder.get("DD-003") is not None
    assert holder.form_validator("DD-003") is holder.current.form_validator("DD-003")
    assert [p.code for p in holder.search(text="cap doi giay chung nhan")] == ["DD-003"]
    # A dossier lodged under the first version is still read by its rules.
    old = holder.at(first.version_id)
    assert old is first
    assert old.procedures["DD-003"].processing_days == 7
    assert set(holder.versions) == {first.version_id, holder.version_id}
    assert holder.at(None) is holder.current


def test_an_unchanged_file_is_not_parsed_again(holder: CatalogueHolder) -> None:
    assert not holder.refresh()
    assert len(holder.versions) == 1


def test_comments_and_layout_make_no_new_version(
    holder: CatalogueHolder, catalogue_file: Path
) -> None:
    before = holder.current
    catalogue_file.write_text(
        "# reformatted\n" + catalogue_file.read_text(encoding="utf-8"), encoding="utf-8"
    )
    assert not holder.refresh()
    assert holder.current is before


def test_an_invalid_file_is_refused_and_the_version_in_force_stays(
    holder: CatalogueHolder, catalogue_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    before = holder.current
    refused = failures("invalid")
    write(catalogue_file, edited("2027.1.1", **{"DD-003": 0}))

    assert not holder.refresh()

    assert holder.current is before
    assert failures("invalid") == refused + 1
    assert "procedure DD-003: processing_days: must be greater than 0" in caplog.text
    # Seen once: the same broken file is not reported every round.
    assert not holder.refresh()
    assert failures("invalid") == refused + 1


def test_a_changed_file_under_a_version_already_used_is_refused(
    holder: CatalogueHolder, catalogue_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    before = holder.current
    reused = failures("version_reused")
    write(catalogue_file, edited("2027.1.0", **{"DD-003": 12}))

    assert not holder.refresh()

    assert holder.current is before
    assert failures("version_reused") == reused + 1
    assert "already names other content" in caplog.text


def test_going_back_to_an_earlier_content_reuses_its_version(
    holder: CatalogueHolder, catalogue_file: Path
) -> None:
    first = holder.current
    write(catalogue_file, edited("2027.1.1", **{"DD-003": 12}))
    assert holder.refresh()
    write(catalogue_file, edited("2027.1.0"))
    assert holder.refresh()
    assert holder.current is first
    assert len(holder.versions) == 2


def test_an_unknown_version_makes_the_holder_look_at_the_file_now(
    holder: CatalogueHolder, catalogue_file: Path, tmp_path: Path
) -> None:
    """Intake may load a version before processing does: the dossier names it."""
    newer = Catalogue.load(write(tmp_path / "newer.yaml", edited("2027.1.1", **{"DD-003": 12})))
    write(catalogue_file, edited("2027.1.1", **{"DD-003": 12}))
    assert holder.at(newer.version_id).procedures["DD-003"].processing_days == 12
    # A version nobody has: the current one answers.
    assert holder.at("1999.1+000000000000") is holder.current


def test_a_missing_file_at_start_up_stops_the_service(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        CatalogueHolder(tmp_path / "absent.yaml")


def test_a_broken_file_at_start_up_stops_the_service(tmp_path: Path) -> None:
    path = write(tmp_path / "broken.yaml", edited("2027.1.0", **{"DD-003": 0}))
    with pytest.raises(CatalogueError, match="DD-003"):
        CatalogueHolder(path)


def test_a_missing_file_on_reload_keeps_the_version(
    holder: CatalogueHolder, catalogue_file: Path
) -> None:
    before = holder.current
    unreadable = failures("unreadable")
    catalogue_file.unlink()
    assert not holder.refresh()
    assert holder.current is before
    assert failures("unreadable") == unreadable + 1


def test_without_a_path_the_packaged_catalogue_is_held() -> None:
    holder = CatalogueHolder(None)
    assert holder.version == "2026.12.1"
    assert not holder.refresh()


async def test_every_activation_is_announced_once_in_order(
    holder: CatalogueHolder, catalogue_file: Path
) -> None:
    heard: list[tuple[str, CatalogueChange]] = []
    broker_up = False

    async def announce(catalogue: Catalogue, change: CatalogueChange, at: datetime) -> None:
        if not broker_up:
            raise ConnectionError("broker away")
        heard.append((catalogue.version, change))

    holder.on_activated(announce)
    write(catalogue_file, edited("2027.1.1", **{"DD-003": 12}))
    holder.refresh()
    with pytest.raises(ConnectionError):
        await holder.announce()
    broker_up = True
    await holder.announce()
    await holder.announce()

    assert [version for version, _ in heard] == ["2027.1.0", "2027.1.1"]
    assert len(heard[0][1].added) == len(holder.procedures)
    assert heard[1][1] == CatalogueChange(added=(), removed=(), changed=("DD-003",))


async def test_sighup_makes_the_watcher_read_the_file(
    holder: CatalogueHolder, catalogue_file: Path
) -> None:
    """The interval is an hour here: only the signal can bring the new version in."""
    activated = asyncio.Event()

    async def announce(catalogue: Catalogue, change: CatalogueChange, at: datetime) -> None:
        if catalogue.version == "2027.1.1":
            activated.set()

    holder.on_activated(announce)
    watcher = asyncio.create_task(holder.watch())
    try:
        await asyncio.sleep(0)  # the watcher installs its handler
        write(catalogue_file, edited("2027.1.1", **{"DD-003": 12}))
        os.kill(os.getpid(), signal.SIGHUP)
        await asyncio.wait_for(activated.wait(), timeout=30)
    finally:
        watcher.cancel()
        with pytest.raises(asyncio.CancelledError):
            await watcher
    assert holder.procedures["DD-003"].processing_days == 12


def test_the_activation_event_id_depends_on_the_content_only() -> None:
    """Two intake replicas announcing one version leave one audit entry."""
    catalogue = Catalogue.load(DATA_FILE)
    change = catalogue.changes_since(None)
    one = activation_event(
        catalogue, change, datetime(2026, 12, 7, tzinfo=UTC), source="/a", actor="system:intake"
    )
    two = activation_event(
        catalogue, change, datetime(2026, 12, 8, tzinfo=UTC), source="/b", actor="system:intake"
    )
    assert one.id == two.id
    assert one.subject is None  # not a dossier's event
    envelope, data = decode(encode(one))
    assert isinstance(data, CatalogueVersionActivated)
    assert data.topic == Topics.CATALOGUE
    assert (data.version, data.sha256) == (catalogue.version, catalogue.sha256)
    assert data.version_id == catalogue.version_id
    assert envelope.type == "catalogue.version-activated.v1"


def test_a_hangup_before_the_watcher_runs_does_not_stop_the_service(catalogue_file: Path) -> None:
    before = signal.signal(signal.SIGHUP, signal.SIG_DFL)
    try:
        settings = ServiceSettings(
            service_name=SERVICE, catalogue_path=str(catalogue_file), catalogue_reload_interval_s=2
        )
        holder = CatalogueHolder.from_settings(settings)
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
        os.kill(os.getpid(), signal.SIGHUP)  # ignored, or this test would not go on
        assert holder.version == "2027.1.0"
    finally:
        signal.signal(signal.SIGHUP, before)
