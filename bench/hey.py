"""HTTP load from `hey`, a compiled generator, with its own CPU measured.

Every HTTP burst drives its load through here (the even load of the budget step and the
capacity sweep comes from vegeta: ``bench/capacity_support/vegeta.py``), so that the load
generator is never what limits the rate: `hey` (Debian's package, installed by ``make
browser``) runs as a child process, writes one CSV line per request (``-o csv``), and its
CPU time comes from the kernel's accounting of the exited child (``os.wait4``), so
nothing of it is missed.
A run whose generator used more than half a core per 1,000 requests a second says so.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.pipeline.stats import percentile

# Above this many cores per 1,000 requests a second, the generator may be what limits.
GENERATOR_CORES_PER_1000 = 0.5


def upload_examples_if_supported(base_url: str, headers: dict[str, str]) -> None:
    """Upload the documents the README's example names; an intake without the upload
    route (a build from before document uploads, as a benchmark's "before" run may start)
    takes the example's attachments as they are."""
    import httpx

    from tests.support.documents import upload_examples

    try:
        upload_examples(base_url, headers)
    except httpx.HTTPStatusError as exc:
        if exc.response.status_code != 404:
            raise


def hey_path() -> str:
    found = shutil.which("hey")
    if found is None:
        raise RuntimeError("hey is not installed: `make browser` installs it (Debian package)")
    return found


@dataclass
class HeyRun:
    """One run of hey against one URL."""

    name: str
    seconds: float
    statuses: dict[int, int] = field(default_factory=dict)
    latencies_s: list[float] = field(default_factory=list)
    # When each request started, seconds into its run (hey's "offset").
    offsets_s: list[float] = field(default_factory=list)
    errors: int = 0
    generator_cpu_s: float = 0.0

    @property
    def requests(self) -> int:
        return len(self.latencies_s) + self.errors

    def answered(self, status: int) -> int:
        return self.statuses.get(status, 0)

    def merge(self, other: HeyRun) -> None:
        self.seconds += other.seconds
        for status, count in other.statuses.items():
            self.statuses[status] = self.statuses.get(status, 0) + count
        self.latencies_s += other.latencies_s
        self.offsets_s += other.offsets_s
        self.errors += other.errors
        self.generator_cpu_s += other.generator_cpu_s

    def per_second(self, status: int) -> float:
        return self.answered(status) / self.seconds if self.seconds > 0 else 0.0

    def latency_ms(self, q: float) -> float | None:
        value = percentile(self.latencies_s, q)
        return None if value is None else round(value * 1000, 1)

    def max_ms(self) -> float | None:
        return round(max(self.latencies_s) * 1000, 1) if self.latencies_s else None

    def over(self, seconds: float) -> int:
        return sum(1 for s in self.latencies_s if s > seconds)

    def slowest(self, count: int) -> list[tuple[float, float]]:
        """(start offset s, latency s) of the slowest requests, slowest first."""
        pairs = sorted(zip(self.latencies_s, self.offsets_s, strict=True), reverse=True)
        return [(round(offset, 2), round(latency, 3)) for latency, offset in pairs[:count]]

    def generator_cores(self) -> float:
        return self.generator_cpu_s / self.seconds if self.seconds > 0 else 0.0

    def generator_cores_per_1000(self) -> float | None:
        rate = self.requests / self.seconds if self.seconds > 0 else 0.0
        return self.generator_cores() / rate * 1000 if rate > 0 else None

    def generator_warning(self) -> str | None:
        per_1000 = self.generator_cores_per_1000()
        if per_1000 is not None and per_1000 > GENERATOR_CORES_PER_1000:
            return (
                f"{self.name}: the load generator used {per_1000:.2f} cores per 1,000 req/s "
                f"(more than {GENERATOR_CORES_PER_1000}): it may be what limits this run"
            )
        return None


def side_by_side(name: str, runs: Sequence[HeyRun]) -> HeyRun:
    """Runs that went at the same time (one hey per intake replica) as one: their requests
    together, over the longest run's time, and their CPU added up."""
    combined = HeyRun(name, max((r.seconds for r in runs), default=0.0))
    for run in runs:
        for status, count in run.statuses.items():
            combined.statuses[status] = combined.statuses.get(status, 0) + count
        combined.latencies_s += run.latencies_s
        combined.offsets_s += run.offsets_s
        combined.errors += run.errors
        combined.generator_cpu_s += run.generator_cpu_s
    return combined


def run_hey(
    name: str,
    url: str,
    *,
    seconds: float,
    connections: int,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    method: str = "POST",
    timeout_s: int = 20,
    per_connection_rate: float | None = None,
) -> HeyRun:
    """``connections`` keep-alive connections sending back to back for ``seconds``, or
    each at most ``per_connection_rate`` requests a second."""
    with tempfile.TemporaryDirectory(prefix="hey-") as tmp:
        args = [
            hey_path(),
            "-z",
            f"{seconds:g}s",
            "-c",
            str(connections),
            "-m",
            method,
            "-t",
            str(timeout_s),
            "-o",
            "csv",
        ]
        if per_connection_rate is not None:
            args += ["-q", f"{per_connection_rate:g}"]
        content_type = (headers or {}).get("Content-Type", "application/json")
        args += ["-T", content_type]
        for key, value in (headers or {}).items():
            if key.lower() != "content-type":
                args += ["-H", f"{key}: {value}"]
        if body is not None:
            body_file = Path(tmp) / "body"
            body_file.write_bytes(body)
            args += ["-D", str(body_file)]
        args.append(url)
        out_path = Path(tmp) / "out.csv"
        started = time.perf_counter()
        cpu_s, _ = run_reaped(args, out_path)
        elapsed = time.perf_counter() - started
        result = parse_csv(name, out_path.read_text())
    result.seconds = min(float(seconds), elapsed)
    result.generator_cpu_s = cpu_s
    return result


def run_reaped(args: list[str], stdout: Path) -> tuple[float, str]:
    """Runs a load generator to its end, its output to ``stdout``: its CPU (the kernel's
    account once the child is reaped, so nothing it did is missed) and its stderr."""
    with stdout.open("wb") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    assert process.stderr is not None
    stderr = process.stderr.read().decode(errors="replace")
    process.stderr.close()
    if process.returncode != 0:
        command = " ".join([Path(args[0]).name, *args[1:2]])
        raise RuntimeError(f"{command} failed ({process.returncode}): {stderr[-500:]}")
    return usage.ru_utime + usage.ru_stime, stderr


def parse_csv(name: str, text: str) -> HeyRun:
    """hey's ``-o csv``: response-time, DNS+dialup, DNS, request-write, response-delay,
    response-read, status-code, offset; a failed request (timeout, reset) has no line of
    its own and shows only as fewer lines."""
    result = HeyRun(name, 0.0)
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None:
        return result
    for row in reader:
        if len(row) < 7:
            continue
        try:
            latency, status = float(row[0]), int(row[6])
            offset = float(row[7]) if len(row) > 7 else 0.0
        except ValueError:
            result.errors += 1
            continue
        result.latencies_s.append(latency)
        result.offsets_s.append(offset)
        result.statuses[status] = result.statuses.get(status, 0) + 1
    return result
