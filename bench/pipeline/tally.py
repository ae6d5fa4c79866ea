"""What a contender reports while it works: progress, its drain window, acknowledgement times.

A contender runs in a process of its own so that its CPU time is its own. It writes one JSON
object per line to stdout; the harness reads them:

* ``{"event": "first", "t": …}`` the first input record was handed to the contender;
* ``{"event": "progress", "audited": n}`` every quarter second;
* ``{"event": "drained", "t": …, "cpu_s": …, "waits": {…}}`` the pre-loaded events are all
  in the audit collection; ``cpu_s`` is this process's CPU time since the first record and
  ``waits`` the seconds spent awaiting each kind of I/O (see `Tally.waiting`);
* ``{"event": "done", "t": …, "cpu_s": …}`` every event, paced ones included, is recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field


def cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def emit(event: str, **fields: float | int | str | dict[str, float]) -> None:
    sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


@dataclass
class Tally:
    """Counts audit entries as they are acknowledged by the store."""

    drain_target: int
    final_target: int
    audited: int = 0
    # dossier id -> wall-clock time its status change's audit entry was acknowledged
    acks: dict[str, float] = field(default_factory=dict)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    # "stage: operation" -> seconds awaited, summed over the stage's calls
    waits: dict[str, float] = field(default_factory=dict)
    _first_cpu: float | None = None
    _drained: bool = False

    @contextlib.contextmanager
    def waiting(self, what: str) -> Iterator[None]:
        """Add the wall time of the block to ``what``. The stages run concurrently, so the
        sums of two stages may add up to more than the elapsed time; within one stage they
        show where its time went."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.waits[what] = self.waits.get(what, 0.0) + time.perf_counter() - started

    def first_record(self) -> None:
        if self._first_cpu is None:
            self._first_cpu = cpu_seconds()
            emit("first", t=time.time())

    def recorded(self, new_entries: int, status_changes: Iterable[str]) -> None:
        """Called right after the store acknowledged audit entries; ``status_changes`` are
        the dossier ids of newly recorded status changes."""
        now = time.time()
        for dossier_id in status_changes:
            self.acks.setdefault(dossier_id, now)
        self.audited += new_entries
        if not self._drained and self.audited >= self.drain_target:
            self._drained = True
            waits = {what: round(seconds, 3) for what, seconds in self.waits.items()}
            emit("drained", t=now, cpu_s=self._cpu(), waits=waits)
        if self.audited >= self.final_target and not self.done.is_set():
            emit("done", t=now, cpu_s=self._cpu())
            self.done.set()

    def _cpu(self) -> float:
        return cpu_seconds() - (self._first_cpu if self._first_cpu is not None else 0.0)

    async def report(self, every_s: float = 0.25) -> None:
        while not self.done.is_set():
            emit("progress", audited=self.audited)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.done.wait(), timeout=every_s)
