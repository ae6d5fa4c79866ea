"""The schedule of what goes wrong, drawn from the seed, and the task that carries it out.

Every replica of every service is killed -9 ``kills`` times, one replica at a time: before
a replica is killed its siblings must be up and ready, so the service keeps serving
through the others, as it would behind a load balancer. ``outages`` times a whole service
goes down (every replica killed at once), and the broker, FerretDB and PostgreSQL are each
restarted through the local launcher when the run owns them.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass, field

from bench.chaos_support.cluster import busiest_leader, in_sync, leaders
from bench.chaos_support.failover import FailoverProbe
from bench.chaos_support.infra import RESTARTABLE, ChaosInfra
from bench.chaos_support.plan import SERVICES, Plan
from bench.chaos_support.services import Platform, Service
from chassis.events import Topics

log = logging.getLogger("chaos")

# How long a killed replica's siblings may take to be ready again before the next kill.
SIBLINGS_READY_S = 180.0


@dataclass(frozen=True)
class Blow:
    at_s: float
    # A service name, "kafka", "store", "postgres", or on the run's own Kafka cluster
    # "leader-kill" (kill -9 the busiest leader, start it again) and "broker-roll".
    target: str
    # Which replica of the service (1, 2, …); None kills every replica at once.
    replica: int | None = None

    @property
    def is_kill(self) -> bool:
        return self.target in SERVICES

    @property
    def what(self) -> str:
        if not self.is_kill:
            return self.target
        if self.replica is None:
            return f"every {self.target} replica"
        return f"{self.target}-{self.replica}"


def schedule(plan: Plan, infra: ChaosInfra, rng: random.Random) -> list[Blow]:
    """Every kill and restart at a random moment while dossiers are still coming in."""
    targets: list[tuple[str, int | None]] = [
        (name, replica)
        for name in SERVICES
        for replica in range(1, plan.replicas + 1)
        for _ in range(plan.kills)
    ]
    # Whole outages go to different services, in an order the seed decides.
    order = rng.sample(SERVICES, len(SERVICES))
    targets += [(order[n % len(order)], None) for n in range(plan.outages)]
    if infra.restartable:
        restarts = {
            "kafka": plan.broker_restarts,
            "store": plan.store_restarts,
            "postgres": plan.postgres_restarts,
        }
        assert set(restarts) == set(RESTARTABLE)
        targets += [(name, None) for name, count in restarts.items() for _ in range(count)]
    start, end = 0.1 * plan.load_s, 0.9 * plan.load_s
    blows = [Blow(rng.uniform(start, end), target, replica) for target, replica in targets]
    if infra.cluster is not None:
        # Broker kills early, rolling restarts after the killed broker is back: the two
        # never overlap (they run in turn), so two brokers of three stay up throughout.
        blows += [
            Blow(rng.uniform(0.1, 0.3) * plan.load_s, "leader-kill")
            for _ in range(plan.broker_kills)
        ]
        blows += [
            Blow(rng.uniform(0.5, 0.7) * plan.load_s, "broker-roll")
            for _ in range(plan.broker_rolls)
        ]
    return sorted(blows, key=lambda b: b.at_s)


@dataclass
class MonkeyTally:
    # Per replica ("intake-1") the kills that hit it alone; per service the outages.
    kills: dict[str, int]
    outages: dict[str, int]
    broker_restarts: int = 0
    store_restarts: int = 0
    postgres_restarts: int = 0
    broker_kills: int = 0
    broker_rolls: int = 0
    log: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def kills_of(self, service: str) -> int:
        alone = sum(n for name, n in self.kills.items() if name.rpartition("-")[0] == service)
        return alone + self.outages.get(service, 0)


class Monkey:
    def __init__(
        self,
        platform: Platform,
        infra: ChaosInfra,
        blows: list[Blow],
        probe: FailoverProbe | None = None,
        down_s: float = 10.0,
    ) -> None:
        self._platform = platform
        self._infra = infra
        self._blows = blows
        self._probe = probe
        self._down_s = down_s
        self._last_victim: int | None = None
        self.tally = MonkeyTally(
            kills={s.instance: 0 for s in platform.instances},
            outages=dict.fromkeys(SERVICES, 0),
        )

    async def run(self, started: float) -> None:
        # Kills go on while the broker or the store is being restarted; the restarts never
        # overlap each other.
        kills = [b for b in self._blows if b.is_kill]
        restarts = [b for b in self._blows if not b.is_kill]
        await asyncio.gather(self._carry_out(kills, started), self._carry_out(restarts, started))

    async def _carry_out(self, blows: list[Blow], started: float) -> None:
        for blow in blows:
            delay = started + blow.at_s - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if blow.is_kill:
                await self._kill(blow, started)
            else:
                await self._restart(blow, started)

    async def _kill(self, blow: Blow, started: float) -> None:
        replicas = self._platform.replicas[blow.target]
        if blow.replica is None:
            for service in replicas:
                service.kill9()
            for service in replicas:
                service.start()
            self.tally.outages[blow.target] += 1
            self._note(f"{time.monotonic() - started:6.1f} s  kill -9 {blow.what}, started again")
            return
        victim = replicas[blow.replica - 1]
        siblings = [s for s in replicas if s is not victim]
        if not await self._ready(siblings, started):
            return
        victim.kill9_and_restart()
        self.tally.kills[victim.instance] += 1
        self._note(f"{time.monotonic() - started:6.1f} s  kill -9 {victim.instance}, started again")

    async def _ready(self, services: list[Service], started: float) -> bool:
        """Wait until ``services`` all answer ready; a failure of the run if they do not."""
        try:
            await asyncio.gather(*(s.wait_ready(SIBLINGS_READY_S) for s in services))
        except (RuntimeError, TimeoutError) as exc:
            at = time.monotonic() - started
            message = f"a replica did not come back: {exc}".splitlines()[0]
            self.tally.failures.append(message)
            self._note(f"{at:6.1f} s  {message}")
            return False
        return True

    async def _restart(self, blow: Blow, started: float) -> None:
        if blow.target in ("leader-kill", "broker-roll"):
            try:
                await self._broker(blow, started)
            except Exception as exc:
                at = time.monotonic() - started
                self.tally.failures.append(f"{blow.target} failed: {exc!r}")
                self._note(f"{at:6.1f} s  {blow.target} failed: {exc!r}")
            return
        at = time.monotonic() - started
        self._note(f"{at:6.1f} s  restarting {blow.target}")
        try:
            await self._infra.restart(blow.target)
        except Exception as exc:
            # The run goes on (the services must cope with what is left) but fails.
            self.tally.failures.append(f"restarting {blow.target} failed: {exc}")
            self._note(f"{at:6.1f} s  restarting {blow.target} failed: {exc}")
            return
        if blow.target == "kafka":
            self.tally.broker_restarts += 1
        elif blow.target == "store":
            self.tally.store_restarts += 1
        else:
            self.tally.postgres_restarts += 1
        back = time.monotonic() - started
        self._note(f"{back:6.1f} s  {blow.target} back after {back - at:.1f} s")

    async def _broker(self, blow: Blow, started: float) -> None:
        """Take one broker of the run's cluster away, tell the probe which partitions it
        led and when, and wait until it is back and every replica is in sync."""
        cluster = self._infra.cluster
        assert cluster is not None
        topics = [self._platform.prefix + t for t in Topics.ALL]
        if self._probe is not None:
            topics.append(self._probe.topic)
        led = await leaders(self._infra.kafka, topics)
        if blow.target == "leader-kill":
            node, partitions = await busiest_leader(self._infra.kafka, led)
            self._last_victim = node
        else:
            # A second broker: the next one after the broker killed before.
            node = (self._last_victim or 0) % cluster.brokers + 1
            partitions = sorted(tp for tp, leader in led.items() if leader == node)
        name = cluster.names[node - 1]
        probe_parts = {p for t, p in partitions if self._probe and t == self._probe.topic}
        at = time.monotonic()
        if self._probe is not None:
            self._probe.blackout(f"{blow.target} {name}", at, probe_parts)
        if blow.target == "leader-kill":
            self._note(
                f"{at - started:6.1f} s  kill -9 {name}, leader of {len(partitions)} partitions"
            )
            await cluster.kill(name)
            await asyncio.sleep(self._down_s)
            await cluster.start(name)
            self.tally.broker_kills += 1
        else:
            self._note(f"{at - started:6.1f} s  restarting {name}, leader of {len(partitions)}")
            await cluster.restart(name)
            self.tally.broker_rolls += 1
        back = time.monotonic()
        await in_sync(self._infra.kafka, topics)
        self._note(
            f"{back - started:6.1f} s  {name} back after {back - at:.1f} s, replicas in sync "
            f"after {time.monotonic() - at:.1f} s"
        )

    def _note(self, line: str) -> None:
        self.tally.log.append(line)
        log.info(line)
