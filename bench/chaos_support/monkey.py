"""The schedule of what goes wrong, drawn from the seed, and the task that carries it out."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass, field

from bench.chaos_support.infra import ChaosInfra
from bench.chaos_support.plan import SERVICES, Plan
from bench.chaos_support.services import Platform

log = logging.getLogger("chaos")


@dataclass(frozen=True)
class Blow:
    at_s: float
    target: str  # a service name, "kafka" or "store"

    @property
    def is_kill(self) -> bool:
        return self.target in SERVICES


def schedule(plan: Plan, infra: ChaosInfra, rng: random.Random) -> list[Blow]:
    """Every kill and restart at a random moment while dossiers are still coming in."""
    targets = [name for name in SERVICES for _ in range(plan.kills)]
    if infra.restartable:
        targets += ["kafka"] * plan.broker_restarts + ["store"] * plan.store_restarts
    start, end = 0.1 * plan.load_s, 0.9 * plan.load_s
    return sorted(
        (Blow(rng.uniform(start, end), target) for target in targets), key=lambda b: b.at_s
    )


@dataclass
class MonkeyTally:
    kills: dict[str, int]
    broker_restarts: int = 0
    store_restarts: int = 0
    log: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


class Monkey:
    def __init__(self, platform: Platform, infra: ChaosInfra, blows: list[Blow]) -> None:
        self._platform = platform
        self._infra = infra
        self._blows = blows
        self.tally = MonkeyTally(kills=dict.fromkeys(SERVICES, 0))

    async def run(self, started: float) -> None:
        # Kills go on while the broker or the store is being restarted; the two restarts
        # never overlap each other.
        kills = [b for b in self._blows if b.is_kill]
        restarts = [b for b in self._blows if not b.is_kill]
        await asyncio.gather(self._carry_out(kills, started), self._carry_out(restarts, started))

    async def _carry_out(self, blows: list[Blow], started: float) -> None:
        for blow in blows:
            delay = started + blow.at_s - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            at = time.monotonic() - started
            if blow.is_kill:
                self._platform.services[blow.target].kill9_and_restart()
                self.tally.kills[blow.target] += 1
                self._note(f"{at:6.1f} s  kill -9 {blow.target}, started again")
                continue
            self._note(f"{at:6.1f} s  restarting {blow.target}")
            try:
                await self._infra.restart(blow.target)
            except Exception as exc:
                # The run goes on (the services must cope with what is left) but fails.
                self.tally.failures.append(f"restarting {blow.target} failed: {exc}")
                self._note(f"{at:6.1f} s  restarting {blow.target} failed: {exc}")
                continue
            if blow.target == "kafka":
                self.tally.broker_restarts += 1
            else:
                self.tally.store_restarts += 1
            back = time.monotonic() - started
            self._note(f"{back:6.1f} s  {blow.target} back after {back - at:.1f} s")

    def _note(self, line: str) -> None:
        self.tally.log.append(line)
        log.info(line)
