"""A catalogue that follows its file: changed without a release, every version kept.

The province edits the file at ``CATALOGUE_PATH``; each service holding the catalogue
looks at the file's digest every ``CATALOGUE_RELOAD_INTERVAL_S`` seconds, and at once on
SIGHUP. A new valid version becomes the current one; an invalid file is refused with its
problems logged and counted, and the version in force stays. Every version loaded is kept
by its id, so a dossier lodged under an older version is still read by that version's
rules (`Catalogue.at`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import signal
import threading
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client import Counter

from chassis.catalogue.loader import (
    Catalogue,
    CatalogueChange,
    CatalogueError,
    load_default_catalogue,
)
from chassis.events import CatalogueVersionActivated, Envelope, make_event
from chassis.settings import ServiceSettings

__all__ = ["Announcer", "CatalogueHolder", "activation_event"]

log = logging.getLogger(__name__)

RELOADS = Counter(
    "hoso_catalogue_reloads_total", "Catalogue versions activated after start-up", ["service"]
)
RELOAD_FAILURES = Counter(
    "hoso_catalogue_reload_failures_total",
    "Catalogue files refused on reload; the version in force stays",
    ["service", "reason"],
)
FAILURE_REASONS = ("unreadable", "invalid", "version_reused")

# Told of each version this process activates (the one it started with first): intake
# publishes it for the audit trail. Raising leaves the announcement for the next round.
Announcer = Callable[[Catalogue, CatalogueChange, datetime], Awaitable[None]]


class CatalogueHolder(Catalogue):
    """The current catalogue version, and every one loaded before it.

    It is a `Catalogue`: the use cases read it as they read a fixed one, and each read
    answers from the version current at that moment.
    """

    def __init__(
        self, path: str | Path | None, *, service: str = "hoso", interval_s: float = 5.0
    ) -> None:
        # No Catalogue.__init__: a holder has no procedures of its own, `_live` lends them.
        self._path = Path(path) if path is not None else None
        self._service = service
        self._interval_s = interval_s
        self._lock = threading.Lock()
        # Raises CatalogueError: a service does not start on a broken catalogue.
        if self._path is None:
            first = load_default_catalogue()
            self._file_digest: str | None = None
        else:
            raw = self._path.read_bytes()
            first = Catalogue.parse(raw.decode("utf-8"), str(self._path))
            self._file_digest = hashlib.sha256(raw).hexdigest()
        self._current = first
        self._versions: dict[str, Catalogue] = {first.version_id: first}
        self._content_of_version: dict[str, str] = {first.version: first.sha256}
        self._pending: list[tuple[Catalogue, CatalogueChange, datetime]] = [
            (first, first.changes_since(None), datetime.now(UTC))
        ]
        self._announcer: Announcer | None = None
        RELOADS.labels(service)
        for reason in FAILURE_REASONS:
            RELOAD_FAILURES.labels(service, reason)

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> CatalogueHolder:
        """The catalogue at ``CATALOGUE_PATH`` (the packaged one when unset)."""
        _survive_early_hangup()
        return cls(
            settings.catalogue_path,
            service=settings.service_name,
            interval_s=settings.catalogue_reload_interval_s,
        )

    def _live(self) -> Catalogue:
        return self._current

    @property
    def current(self) -> Catalogue:
        return self._current

    @property
    def versions(self) -> Mapping[str, Catalogue]:
        """Every version loaded since start-up, by version id."""
        return dict(self._versions)

    def at(self, version_id: str | None) -> Catalogue:
        if version_id is None:
            return self._current
        known = self._versions.get(version_id)
        if known is None:
            # A dossier lodged under a version another service loaded first: look at the
            # file now rather than judge it by the version before.
            self.refresh()
            known = self._versions.get(version_id)
        return known if known is not None else self._current

    def on_activated(self, announcer: Announcer) -> None:
        self._announcer = announcer

    def refresh(self) -> bool:
        """Read the file again if its bytes changed; True when a new version took over."""
        if self._path is None:
            return False
        with self._lock:
            return self._refresh(self._path)

    def _refresh(self, path: Path) -> bool:
        try:
            raw = path.read_bytes()
        except OSError as error:
            # A file being replaced may be missing for a moment; the next round sees it.
            log.warning("catalogue file unreadable (%s); version %s stays", error, self.version)
            RELOAD_FAILURES.labels(self._service, "unreadable").inc()
            return False
        digest = hashlib.sha256(raw).hexdigest()
        if digest == self._file_digest:
            return False
        # Remembered before parsing: a broken file is reported once, not every round.
        self._file_digest = digest
        try:
            new = Catalogue.parse(raw.decode("utf-8"), str(path))
        except (CatalogueError, UnicodeDecodeError) as error:
            # The catalogue holds no personal data; its problems name entries and fields.
            log.error("catalogue file refused; version %s stays: %s", self.version, error)
            RELOAD_FAILURES.labels(self._service, "invalid").inc()
            return False
        if new.sha256 == self._current.sha256:
            return False  # comments or layout only
        known = self._content_of_version.get(new.version)
        if known is not None and known != new.sha256:
            log.error(
                "catalogue file refused; version %s stays: its version %r already names "
                "other content, and dossiers lodged under it must keep reading that content; "
                "give the changed file a new version",
                self.version,
                new.version,
            )
            RELOAD_FAILURES.labels(self._service, "version_reused").inc()
            return False
        previous = self._current
        new = self._versions.setdefault(new.version_id, new)
        self._content_of_version[new.version] = new.sha256
        self._current = new
        change = new.changes_since(previous)
        RELOADS.labels(self._service).inc()
        log.info(
            "catalogue version %s activated (was %s): %d added, %d removed, %d changed",
            new.version_id,
            previous.version_id,
            len(change.added),
            len(change.removed),
            len(change.changed),
        )
        self._pending.append((new, change, datetime.now(UTC)))
        return True

    async def announce(self) -> None:
        """Hand the versions activated so far to the announcer, oldest first."""
        if self._announcer is None:
            self._pending.clear()
            return
        while self._pending:
            catalogue, change, activated_at = self._pending[0]
            await self._announcer(catalogue, change, activated_at)
            self._pending.pop(0)

    async def watch(self) -> None:
        """Runs until cancelled: look at the file every interval and on SIGHUP."""
        wake = asyncio.Event()
        _listen_for_hangup(wake)
        try:
            while True:
                try:
                    await self.announce()
                except Exception as error:
                    log.warning(
                        "catalogue version not announced yet (%s); retrying",
                        type(error).__name__,
                    )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), self._interval_s)
                wake.clear()
                # Parsing and validating a changed file takes a while; not on the loop.
                await asyncio.to_thread(self.refresh)
        finally:
            _stop_listening(wake)


# Fixed, so that the event id of a version is the same in every process and every run.
_ACTIVATION_IDS = uuid.UUID("6f1c4e2a-9b0d-5c8e-a4f7-3d2b1e0c9a85")


def activation_event(
    catalogue: Catalogue,
    change: CatalogueChange,
    activated_at: datetime,
    *,
    source: str,
    actor: str,
) -> Envelope:
    """The audit record of a version coming into force; its id is derived from the
    content, so replicas (and restarts) announcing one version make one audit entry."""
    data = CatalogueVersionActivated(
        version=catalogue.version,
        version_id=catalogue.version_id,
        sha256=catalogue.sha256,
        published_on=catalogue.published_on,
        department_name_vi=catalogue.department.name_vi,
        added=list(change.added),
        removed=list(change.removed),
        changed=list(change.changed),
        activated_at=activated_at,
    )
    return make_event(
        data,
        source=source,
        actor=actor,
        event_id=str(uuid.uuid5(_ACTIVATION_IDS, catalogue.sha256)),
        time=activated_at,
    )


# One SIGHUP handler per event loop wakes every holder on it (a test may run several
# services in one process).
_hangup_listeners: set[asyncio.Event] = set()


def _on_hangup() -> None:
    log.info("SIGHUP: reading the catalogue file again")
    for wake in _hangup_listeners:
        wake.set()


def _survive_early_hangup() -> None:
    """SIGHUP ends a process by default; an operator's reload request sent before the
    watcher runs (the service still connecting) must not stop the service."""
    with contextlib.suppress(ValueError, AttributeError, OSError):
        if signal.getsignal(signal.SIGHUP) is signal.SIG_DFL:
            signal.signal(signal.SIGHUP, signal.SIG_IGN)


def _listen_for_hangup(wake: asyncio.Event) -> None:
    if not _hangup_listeners:
        # Not possible off the main thread or without SIGHUP; the interval still works.
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError, AttributeError):
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, _on_hangup)
    _hangup_listeners.add(wake)


def _stop_listening(wake: asyncio.Event) -> None:
    _hangup_listeners.discard(wake)
    if not _hangup_listeners:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError, AttributeError):
            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
        _survive_early_hangup()
