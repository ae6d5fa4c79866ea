"""The load: submissions from `vegeta` (a compiled generator) at an even rate, spread over
the intake replicas, and the audit entries that follow each dossier from its receipt to
the citizen's notification."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection

from bench.capacity_support.vegeta import VegetaRun, Workers, run_vegeta, side_by_side
from bench.pipeline.infra import ROOT
from bench.pipeline.platform import NOTIFICATION_SENT, unix_time
from chassis.events import EventType

EXAMPLE = ROOT / "docs" / "examples" / "submission.json"
SUBMITTED = EventType.SUBMITTED.value


class Submissions:
    """The README's submission (``docs/examples/submission.json``) with an applicant address
    of the step's own: vegeta sends one body over and over, and the address tells a step's
    dossiers from another's in the services' databases while the run's are kept."""

    _SLOT = "@@email@@"

    def __init__(self, run: str) -> None:
        example: dict[str, Any] = json.loads(EXAMPLE.read_text())
        example["applicant"]["email"] = self._SLOT
        self._template = json.dumps(example, ensure_ascii=False)
        self._run = run

    def body(self, step: str) -> bytes:
        return self._template.replace(self._SLOT, f"citizen.{step}.{self._run}@example.vn").encode()


class VegetaLoad:
    """Open loop at an even rate: one vegeta per intake replica, each offering its share of
    the rate for the step's duration whatever became of the earlier requests; every
    answer is kept (the 202's body names the dossier), and vegeta's own CPU (the kernel's
    accounting of the exited children) is the load generator's."""

    def __init__(self, intakes: Sequence[str], token: str, submissions: Submissions) -> None:
        self.intakes = list(intakes)
        self._token = token
        self._submissions = submissions

    def workers(self, rate: float) -> Workers:
        """Each vegeta's workers: sized for its own share of the rate."""
        return Workers.for_rate(rate / len(self.intakes))

    async def offer(self, rate: float, duration: float, step: str) -> VegetaRun:
        share = rate / len(self.intakes)
        body = self._submissions.body(step)
        headers = {"Authorization": f"Bearer {self._token}", "Content-Type": "application/json"}
        runs = await asyncio.gather(
            *(
                asyncio.to_thread(
                    run_vegeta,
                    f"intake {k + 1}",
                    f"{intake}/v1/dossiers",
                    rate=share,
                    seconds=duration,
                    body=body,
                    headers=headers,
                )
                for k, intake in enumerate(self.intakes)
            )
        )
        return side_by_side("intake", runs)


class AuditWatch:
    """Each dossier's journey as the audit recorded it: when intake received it (the time of
    its ``dossier.submitted`` event, intake's clock; the progress line's count while the
    load is sent, before vegeta hands back its answers) and when the audit recorded its
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
