"""An even, open-loop load from `vegeta` (a compiled generator), with every answer kept.

`vegeta attack` sends its requests at exactly the rate asked, each one due at
start + n / rate whatever became of the earlier ones (a worker is taken from the pool,
or a new one started, for every hit); its results (start time, latency, status and body
of every request) are written in vegeta's binary encoding and read back through
`vegeta encode --to json`. Its CPU is the kernel's accounting of the exited children
(``os.wait4``), as for hey (``bench/hey.py``). ``make vegeta`` builds it from the Go
module proxy into ``.local/bin`` (``make bench`` does when it is missing).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from bench.hey import GENERATOR_CORES_PER_1000, run_reaped
from bench.pipeline.infra import ROOT
from bench.pipeline.stats import percentile

# Where `make vegeta` puts the binary (git-ignored, like the other built tools).
BUILT = ROOT / ".local" / "bin" / "vegeta"
# A POST not answered within this is given up (vegeta's -timeout) and counts as unanswered.
TIMEOUT_S = 20
# Workers vegeta starts with: enough for every request of the first half second to be
# open at once (a POST rarely takes longer), so no worker is started during a step.
START_WORKERS_S = 0.5
MIN_WORKERS = 4
_BEYOND_MICROSECONDS = re.compile(r"(\.\d{1,6})\d*")


def vegeta_path() -> str:
    if BUILT.exists():
        return str(BUILT)
    found = shutil.which("vegeta")
    if found is None:
        raise RuntimeError("vegeta is not built: `make vegeta` builds it into .local/bin")
    return found


@dataclass(frozen=True)
class Workers:
    """vegeta's ``-workers`` (started at once) and ``-max-workers`` (the most it may start):
    a worker holds one request at a time, so as many as the requests that can be open
    together, every one of ``rate × timeout`` until its timeout, is never too few."""

    start: int
    most: int

    @classmethod
    def for_rate(cls, rate: float, timeout_s: float = TIMEOUT_S) -> Workers:
        most = max(MIN_WORKERS, math.ceil(rate * timeout_s))
        return cls(min(most, max(MIN_WORKERS, math.ceil(rate * START_WORKERS_S))), most)


@dataclass(frozen=True)
class Hit:
    """One request as vegeta reports it."""

    # When the request was sent (Unix time, vegeta's clock: this machine's).
    started: float
    latency_s: float
    # The HTTP status; 0 when no answer came (refused connection, timeout).
    status: int
    body: bytes


@dataclass
class VegetaRun:
    """One or more vegeta attacks that went at the same time."""

    name: str
    seconds: float
    hits: list[Hit] = field(default_factory=list)
    generator_cpu_s: float = 0.0

    @property
    def requests(self) -> int:
        return len(self.hits)

    @property
    def errors(self) -> int:
        """Requests with no answer at all."""
        return sum(1 for h in self.hits if h.status == 0)

    @property
    def statuses(self) -> dict[int, int]:
        counts: dict[int, int] = {}
        for hit in self.hits:
            if hit.status:
                counts[hit.status] = counts.get(hit.status, 0) + 1
        return counts

    def answered(self, status: int) -> int:
        return sum(1 for h in self.hits if h.status == status)

    @property
    def latencies_s(self) -> list[float]:
        """Of the requests that were answered."""
        return [h.latency_s for h in self.hits if h.status]

    def latency_ms(self, q: float) -> float | None:
        value = percentile(self.latencies_s, q)
        return None if value is None else round(value * 1000, 1)

    def max_ms(self) -> float | None:
        latencies = self.latencies_s
        return round(max(latencies) * 1000, 1) if latencies else None

    def sent_per_s(self) -> float | None:
        """The rate the requests actually went out at, from their start times."""
        starts = sorted(h.started for h in self.hits)
        if len(starts) < 2 or starts[-1] <= starts[0]:
            return None
        return (len(starts) - 1) / (starts[-1] - starts[0])

    def accepted(self, key: str = "dossier_id") -> dict[str, float]:
        """The accepted requests' ids (``key`` of a 202 answer's JSON body), each with the
        start of its request."""
        out: dict[str, float] = {}
        for hit in self.hits:
            if hit.status != 202:
                continue
            try:
                value = json.loads(hit.body).get(key)
            except (ValueError, AttributeError):
                continue
            if value is not None:
                out[str(value)] = hit.started
        return out

    def generator_cores(self) -> float:
        return self.generator_cpu_s / self.seconds if self.seconds > 0 else 0.0

    def generator_cores_per_1000(self) -> float | None:
        rate = self.requests / self.seconds if self.seconds > 0 else 0.0
        return self.generator_cores() / rate * 1000 if rate > 0 else None

    def generator_over_rule(self) -> bool:
        per_1000 = self.generator_cores_per_1000()
        return per_1000 is not None and per_1000 > GENERATOR_CORES_PER_1000


def side_by_side(name: str, runs: Sequence[VegetaRun]) -> VegetaRun:
    """Attacks that went at the same time (one per intake replica) as one: their requests
    together, over the longest one's time, and their CPU added up."""
    combined = VegetaRun(name, max((r.seconds for r in runs), default=0.0))
    for run in runs:
        combined.hits += run.hits
        combined.generator_cpu_s += run.generator_cpu_s
    return combined


def _timestamp(text: str) -> float:
    """vegeta's RFC 3339 time with up to nanoseconds (trailing zeros left out), as a Unix
    time; Python reads at most microseconds, so the digits beyond are cut."""
    text = _BEYOND_MICROSECONDS.sub(r"\1", text).replace("Z", "+00:00")
    return datetime.fromisoformat(text).timestamp()


def parse_results(name: str, lines: str) -> VegetaRun:
    """`vegeta encode --to json`: one JSON object a line, with ``timestamp``, ``latency``
    (nanoseconds), ``code`` (0: no answer) and ``body`` (base64, or null)."""
    run = VegetaRun(name, 0.0)
    for line in lines.splitlines():
        if not line.strip():
            continue
        result = json.loads(line)
        try:
            body = base64.b64decode(result.get("body") or "", validate=True)
        except binascii.Error:
            body = b""
        run.hits.append(
            Hit(
                started=_timestamp(result["timestamp"]),
                latency_s=int(result["latency"]) / 1e9,
                status=int(result.get("code") or 0),
                body=body,
            )
        )
    return run


def targets(url: str, headers: dict[str, str], body_file: Path, method: str = "POST") -> str:
    """vegeta's http targets format: the request line, its headers, ``@`` the body's file."""
    lines = [f"{method} {url}", *(f"{key}: {value}" for key, value in headers.items())]
    return "\n".join([*lines, f"@{body_file}", ""])


def rate_flag(rate: float) -> str:
    """vegeta's ``-rate``: a whole count per unit of time, so a fractional rate a second
    becomes one request per so many nanoseconds."""
    if rate == int(rate):
        return f"{int(rate)}/1s"
    return f"1/{round(1e9 / rate)}ns"


def run_vegeta(
    name: str,
    url: str,
    *,
    rate: float,
    seconds: float,
    body: bytes,
    headers: dict[str, str],
    timeout_s: int = TIMEOUT_S,
) -> VegetaRun:
    """``rate`` requests a second, evenly spaced, for ``seconds``; every answer kept. The
    generator's CPU is the attack's and the encoding's together."""
    binary = vegeta_path()
    workers = Workers.for_rate(rate, timeout_s)
    with tempfile.TemporaryDirectory(prefix="vegeta-") as tmp:
        body_file = Path(tmp) / "body"
        body_file.write_bytes(body)
        targets_file = Path(tmp) / "targets"
        targets_file.write_text(targets(url, headers, body_file))
        results = Path(tmp) / "results.bin"
        started = time.perf_counter()
        attack_cpu, _ = run_reaped(
            [
                binary,
                "attack",
                f"-rate={rate_flag(rate)}",
                f"-duration={seconds:g}s",
                f"-targets={targets_file}",
                "-format=http",
                f"-timeout={timeout_s}s",
                f"-workers={workers.start}",
                f"-max-workers={workers.most}",
                f"-name={name}",
            ],
            results,
        )
        elapsed = time.perf_counter() - started
        decoded = Path(tmp) / "results.json"
        encode_cpu, _ = run_reaped([binary, "encode", "--to", "json", str(results)], decoded)
        run = parse_results(name, decoded.read_text())
    run.seconds = min(float(seconds), elapsed)
    run.generator_cpu_s = attack_cpu + encode_cpu
    return run
