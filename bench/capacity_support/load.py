"""The load: submissions from `hey` (a compiled generator) at a set rate, spread over the
intake replicas, and the audit entries that follow each dossier from its receipt to the
citizen's notification."""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection

from bench.hey import HeyRun, run_hey, side_by_side
from bench.pipeline.infra import ROOT
from bench.pipeline.platform import NOTIFICATION_SENT, unix_time
from chassis.events import EventType

EXAMPLE = ROOT / "docs" / "examples" / "submission.json"
SUBMITTED = EventType.SUBMITTED.value

# Each of hey's workers sends at most one request every PACE_S seconds, so it keeps the
# offered pace as long as a POST takes less than that (hey's -q ticker drops the ticks a
# busy worker misses); at least MIN_CONNECTIONS, so that one slow answer holds back only
# a small share of the load.
PACE_S = 0.5
MIN_CONNECTIONS = 4


class Submissions:
    """The README's submission (``docs/examples/submission.json``) with an applicant address
    of the step's own: hey sends one body over and over, and the address tells a step's
    dossiers from another's in the services' databases while the run's are kept."""

    _SLOT = "@@email@@"

    def __init__(self, run: str) -> None:
        example: dict[str, Any] = json.loads(EXAMPLE.read_text())
        example["applicant"]["email"] = self._SLOT
        self._template = json.dumps(example, ensure_ascii=False)
        self._run = run

    def body(self, step: str) -> bytes:
        return self._template.replace(self._SLOT, f"citizen.{step}.{self._run}@example.vn").encode()


@dataclass(frozen=True)
class Pace:
    """How hey offers ``rate`` requests a second to one intake: ``connections`` workers,
    each at most ``per_connection`` a second (hey's ``-c`` and ``-q``)."""

    connections: int
    per_connection: float

    @classmethod
    def for_rate(cls, rate: float) -> Pace:
        connections = max(MIN_CONNECTIONS, math.ceil(rate * PACE_S))
        return cls(connections, rate / connections)


class HeyLoad:
    """Open loop: one hey per intake replica, each offering its share of the rate for the
    step's duration whatever became of the earlier requests; hey's own CPU (the kernel's
    accounting of the exited child) is the load generator's."""

    def __init__(self, intakes: Sequence[str], token: str, submissions: Submissions) -> None:
        self.intakes = list(intakes)
        self._token = token
        self._submissions = submissions

    def pace(self, rate: float) -> Pace:
        return Pace.for_rate(rate / len(self.intakes))

    async def offer(self, rate: float, duration: float, step: str) -> HeyRun:
        pace = self.pace(rate)
        body = self._submissions.body(step)
        headers = {"Authorization": f"Bearer {self._token}", "Content-Type": "application/json"}
        runs = await asyncio.gather(
            *(
                asyncio.to_thread(
                    run_hey,
                    f"intake {k + 1}",
                    f"{intake}/v1/dossiers",
                    seconds=duration,
                    connections=pace.connections,
                    per_connection_rate=pace.per_connection,
                    body=body,
                    headers=headers,
                )
                for k, intake in enumerate(self.intakes)
            )
        )
        return side_by_side("intake", runs)


class AuditWatch:
    """Each dossier's journey as the audit recorded it: when intake received it (the time of
    its ``dossier.submitted`` event, intake's clock) and when the audit recorded its
    ``notification.sent`` event (``recorded_at``; the same machine's clock). Read
    incrementally along the chain's ``seq`` through the audit service's own
    (event_type, seq) index."""

    # Entries written by concurrent writers may become visible slightly out of seq order;
    # each poll looks this far back again (already known dossiers are kept as they were).
    LOOK_BACK = 200

    def __init__(self, entries: AsyncCollection[Any]) -> None:
        self._entries = entries
        self._seq = {SUBMITTED: -1, NOTIFICATION_SENT: -1}
        self.submitted: dict[str, float] = {}
        self.notified: dict[str, float] = {}

    async def poll(self) -> None:
        for event_type, field, into in (
            (SUBMITTED, "occurred_at", self.submitted),
            (NOTIFICATION_SENT, "recorded_at", self.notified),
        ):
            cursor = self._entries.find(
                {"event_type": event_type, "seq": {"$gt": self._seq[event_type] - self.LOOK_BACK}},
                {"dossier_id": 1, field: 1, "seq": 1},
            ).sort("seq", ASCENDING)
            async for entry in cursor:
                into.setdefault(str(entry["dossier_id"]), unix_time(entry[field]))
                self._seq[event_type] = max(self._seq[event_type], int(entry["seq"]))

    def received_between(self, start: float, end: float) -> dict[str, float]:
        """The dossiers intake received in [start, end] (Unix times), with when."""
        return {d: at for d, at in self.submitted.items() if start <= at <= end}
