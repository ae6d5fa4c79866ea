"""Documents: upload throughput through intake against the store's raw GridFS write rate in
the same run, intake's memory while 25 MB files stream through it, and the time to issue
and sign a result PDF.

    uv run python -m bench.documents_bench [--concurrency 4] [--small 40] [--large 12]
        [--signatures 60]

Intake runs as its own process (``deploy.launcher.spawn.ServiceProcess``) against the real
broker and store (``KAFKA_BOOTSTRAP_SERVERS`` / ``MONGODB_URI`` if set, else the local
launcher starts them), with its own topics and database, removed afterwards.

* Upload: ``POST /v1/documents`` with PDFs of 1 MB and 25 MB (10^6 bytes), each one's
  bytes unique (a nonce in a comment line), so every upload is stored, never answered by
  deduplication. The load comes from ``--concurrency`` client processes (httpx), each
  sending its share back to back over one keep-alive connection, all released at once
  once every one has made its bodies and connected; their CPU is each one's own
  accounting (``getrusage``) from the release to its last answer. Raw GridFS: the same
  bodies written by the same number of concurrent writers straight into a GridFS bucket
  of the same store, through the driver intake uses (PyMongo's asyncio client), in the
  same run, alternating with intake's rounds.
* Memory: intake's resident set at rest, then its peak (``VmHWM``, reset through
  ``/proc/<pid>/clear_refs`` before each phase) while 25 MB uploads stream through it, one
  at a time and ``--concurrency`` at a time.
* Issue + sign: intake's own issuing path (``intake.adapters.results.result_signer``: the
  decision laid out with reportlab in the embedded fonts, signed PAdES with pyHanko) with
  the local test PKI's PKCS#12 (``.local/pki``, the agency certificate `make run` makes),
  in this process; p50/p99 over ``--signatures`` documents.

Prints a table; writes ``bench/results/documents-<time>/result.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from bench.pipeline.infra import ROOT, Infra, drop, provide
from bench.pipeline.platform import service_env
from bench.pipeline.stats import percentile, table
from deploy.launcher.spawn import ServiceProcess

MB = 1_000_000
SIZES = {"1 MB": 1 * MB, "25 MB": 25 * MB}


# --------------------------------------------------------------------------- bodies


def padded_pdf(size: int, nonce: bytes, filler: bytes) -> bytes:
    """A valid one-page PDF of about ``size`` bytes: a blank page and an unreferenced
    stream of ``filler``; ``nonce`` makes its bytes (and so its SHA-256) its own."""
    header = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n% " + nonce.hex().encode() + b"\n"
    content = b"0 0 m 100 100 l S"
    length = max(0, size - 700)
    bodies = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Length %d >>\nstream\n" % length + filler[:length] + b"\nendstream",
    ]
    out = bytearray(header)
    offsets = []
    for number, body in enumerate(bodies, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(bodies) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(bodies) + 1,
        xref,
    )
    return bytes(out)


# --------------------------------------------------------------------------- one client


def client(url: str, size: int, count: int) -> None:
    """One load process: ``count`` uploads back to back; prints its timings as JSON."""
    import httpx

    token = os.environ["BENCH_TOKEN"]
    filler = os.urandom(size)
    bodies = [padded_pdf(size, secrets.token_bytes(16), filler) for _ in range(count)]
    results: list[tuple[float, int]] = []
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/pdf"}
    with httpx.Client(timeout=120) as http:
        # Bodies made and connection set up: wait for the others, so that all start at once.
        http.get(url.rsplit("/v1/", 1)[0] + "/readyz")
        print("ready", flush=True)
        sys.stdin.readline()
        started = time.time()
        cpu_before = _cpu_s()
        for n, body in enumerate(bodies):
            t0 = time.perf_counter()
            response = http.post(
                url, params={"name": f"bench-{n}.pdf"}, content=body, headers=headers
            )
            results.append((time.perf_counter() - t0, response.status_code))
        ended = time.time()
        cpu = _cpu_s() - cpu_before
    print(json.dumps({"started": started, "ended": ended, "cpu_s": cpu, "results": results}))


def _cpu_s() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_clients(url: str, size: int, total: int, concurrency: int, token: str) -> dict[str, Any]:
    """``total`` uploads of ``size`` bytes from ``concurrency`` client processes."""
    shares = [
        total // concurrency + (1 if k < total % concurrency else 0) for k in range(concurrency)
    ]
    env = {**os.environ, "BENCH_TOKEN": token}
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "bench.documents_bench", "--client", url, str(size), str(n)],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        for n in shares
        if n > 0
    ]
    # Every client has started, made its bodies and connected before any sends: the
    # start-up of a Python process must not count as upload time.
    for process in processes:
        assert process.stdout is not None
        if process.stdout.readline().strip() != b"ready":
            raise RuntimeError("a load process failed to start")
    for process in processes:
        assert process.stdin is not None
        process.stdin.write(b"go\n")
        process.stdin.close()
    outputs: list[dict[str, Any]] = []
    for process in processes:
        assert process.stdout is not None
        text = process.stdout.read()
        process.stdout.close()
        if process.wait() != 0:
            raise RuntimeError(f"a load process failed ({process.returncode})")
        outputs.append(json.loads(text))
    wall = max(o["ended"] for o in outputs) - min(o["started"] for o in outputs)
    results = [r for o in outputs for r in o["results"]]
    return {
        "wall_s": wall,
        "latencies_s": [r[0] for r in results],
        "statuses": {str(s): sum(1 for r in results if r[1] == s) for s in {r[1] for r in results}},
        # The clients' own CPU while sending (their start-up and bodies left out).
        "generator_cpu_s": sum(o["cpu_s"] for o in outputs),
    }


# --------------------------------------------------------------------------- raw GridFS


async def raw_gridfs(
    infra: Infra, database: str, size: int, total: int, concurrency: int
) -> dict[str, Any]:
    """The same bodies written straight into GridFS by ``concurrency`` writers."""
    from gridfs import AsyncGridFSBucket
    from pymongo import AsyncMongoClient

    client: AsyncMongoClient[Any] = AsyncMongoClient(infra.mongodb)
    bucket = AsyncGridFSBucket(client[database], bucket_name="raw")
    filler = os.urandom(size)
    shares = [
        total // concurrency + (1 if k < total % concurrency else 0) for k in range(concurrency)
    ]
    bodies = [[padded_pdf(size, secrets.token_bytes(16), filler) for _ in range(n)] for n in shares]
    latencies: list[float] = []

    async def writer(mine: list[bytes]) -> None:
        for n, body in enumerate(mine):
            t0 = time.perf_counter()
            await bucket.upload_from_stream(f"raw-{n}.pdf", body)
            latencies.append(time.perf_counter() - t0)

    try:
        started = time.perf_counter()
        await asyncio.gather(*(writer(mine) for mine in bodies))
        wall = time.perf_counter() - started
    finally:
        await client.close()
    return {"wall_s": wall, "latencies_s": latencies, "statuses": {"stored": total}}


# --------------------------------------------------------------------------- memory


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for {pid}")


def reset_peak(pid: int) -> None:
    """Resets VmHWM (the peak resident set) to the current resident set."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


# --------------------------------------------------------------------------- issue + sign


def issue_and_sign(count: int) -> list[float]:
    """Seconds for intake's own issuing path (``intake.adapters.results.result_signer``:
    reportlab lays the decision out, pyHanko signs it PAdES) to make ``count`` results."""
    from pydantic import SecretStr

    from deploy.launcher import layout
    from deploy.launcher.pki import ensure_test_pki
    from intake.adapters.results import result_signer
    from intake.domain.results import ResultText
    from intake.settings import IntakeSettings

    pki = ensure_test_pki(layout().root)
    sign = result_signer(
        IntakeSettings(
            signing_pkcs12=str(pki.pkcs12_path),
            signing_pkcs12_password=SecretStr(pki.password),
        )
    )
    assert sign is not None
    times = []
    # One more than counted, first: it loads the fonts and pyHanko's machinery once, as a
    # running intake has long done by its first approval.
    for n in range(-1, count):
        text = ResultText(
            language="vi",
            agency="Sở Tài nguyên và Môi trường",
            title="QUYẾT ĐỊNH Cấp giấy phép môi trường",
            body="\n".join(
                f"Điều {k}. Cấp giấy phép môi trường cho cơ sở theo hồ sơ đã nộp; "
                "cơ sở có trách nhiệm thực hiện đúng nội dung được cấp phép."
                for k in range(1, 6)
            ),
            receipt_code=f"MT-261207-{n + 1:06d}",
            applicant="Công ty TNHH Môi trường Xanh",
            decision_number=f"{n}/QĐ-STNMT",
            decision_date="07/12/2026",
            legal_basis="Luật Bảo vệ môi trường 2020",
            place_and_date="Thành phố, ngày 07 tháng 12 năm 2026",
        )
        t0 = time.perf_counter()
        sign(text)
        if n >= 0:
            times.append(time.perf_counter() - t0)
    return times


# --------------------------------------------------------------------------- run


def _rate(run: dict[str, Any], size: int) -> float:
    stored = sum(n for s, n in run["statuses"].items() if s in ("201", "200", "stored"))
    return round(stored * size / MB / run["wall_s"], 1) if run["wall_s"] > 0 else 0.0


def _ms(samples: list[float], q: float) -> float | None:
    value = percentile(samples, q)
    return None if value is None else round(value * 1000, 1)


async def measure(
    infra: Infra, *, concurrency: int, small: int, large: int, signatures: int, logs: Path
) -> dict[str, Any]:
    from chassis.auth import mint_token, new_signing_key

    run = uuid.uuid4().hex[:8]
    prefix = f"bench{run}-docs."
    databases = {"intake": f"bench{run}_docs_intake"}
    raw_db = f"bench{run}_docs_raw"
    signing_key = new_signing_key()
    env = service_env(infra, prefix, databases, signing_key, smtp_port=1025)
    token = mint_token(signing_key, "portal-bench", ["portal"], ttl_s=3600)
    intake = ServiceProcess("intake", env, logs / "intake.log")
    counts = {"1 MB": small, "25 MB": large}
    result: dict[str, Any] = {"concurrency": concurrency, "uploads": {}, "raw": {}, "memory": {}}
    try:
        intake.start()
        await intake.wait_ready_async(120)
        assert intake.process is not None
        pid = intake.process.pid
        url = f"{intake.url}/v1/documents"
        # Warm-up: imports, connections, the bucket's indexes.
        await asyncio.to_thread(run_clients, url, SIZES["1 MB"], 2, 1, token)
        await asyncio.sleep(1.0)
        result["memory"]["idle_rss_kb"] = _status_kb(pid, "VmRSS")
        # Alternating, intake then the raw writes, so a change in load falls on both alike.
        for label, size in SIZES.items():
            if label == "25 MB":
                reset_peak(pid)
                one = await asyncio.to_thread(run_clients, url, size, 3, 1, token)
                result["memory"]["peak_rss_kb_one_at_a_time"] = _status_kb(pid, "VmHWM")
                result["uploads"]["25 MB, one at a time"] = one
                reset_peak(pid)
            result["uploads"][label] = await asyncio.to_thread(
                run_clients, url, size, counts[label], concurrency, token
            )
            if label == "25 MB":
                result["memory"]["peak_rss_kb_concurrent"] = _status_kb(pid, "VmHWM")
            result["raw"][label] = await raw_gridfs(infra, raw_db, size, counts[label], concurrency)
        result["memory"]["rss_after_kb"] = _status_kb(pid, "VmRSS")
    finally:
        await asyncio.to_thread(intake.stop, timeout_s=30.0)
        await drop(infra, prefix, [*databases.values(), raw_db])
    result["sign_s"] = await asyncio.to_thread(issue_and_sign, signatures)
    return result


def render(result: dict[str, Any]) -> str:
    rows = []
    for label, size in SIZES.items():
        up = result["uploads"][label]
        raw = result["raw"][label]
        rate, raw_rate = _rate(up, size), _rate(raw, size)
        rows.append(
            [
                label,
                sum(up["statuses"].values()),
                rate,
                raw_rate,
                round(rate / raw_rate, 2) if raw_rate else None,
                _ms(up["latencies_s"], 50),
                _ms(up["latencies_s"], 99),
                _ms(raw["latencies_s"], 50),
                round(up["generator_cpu_s"], 2),
            ]
        )
    memory = result["memory"]
    one = result["uploads"]["25 MB, one at a time"]
    sign = result["sign_s"]
    c = result["concurrency"]
    lines = [
        f"\nUploads through intake (POST /v1/documents, {c} client processes) against raw "
        f"GridFS writes ({c} writers) in the same run",
        table(
            [
                "file",
                "uploads",
                "intake MB/s",
                "raw GridFS MB/s",
                "ratio",
                "intake p50 ms",
                "intake p99 ms",
                "raw p50 ms",
                "clients CPU s",
            ],
            rows,
        ),
        "statuses: "
        + "; ".join(
            f"{label}: "
            + ", ".join(f"{k} x{v}" for k, v in result["uploads"][label]["statuses"].items())
            for label in SIZES
        ),
        "",
        "intake's memory (resident set)",
        table(
            ["when", "MB"],
            [
                ["at rest, after warm-up", round(memory["idle_rss_kb"] / 1024, 1)],
                [
                    "peak, 25 MB uploads one at a time",
                    round(memory["peak_rss_kb_one_at_a_time"] / 1024, 1),
                ],
                [
                    f"peak, 25 MB uploads {c} at a time",
                    round(memory["peak_rss_kb_concurrent"] / 1024, 1),
                ],
                ["after the run", round(memory["rss_after_kb"] / 1024, 1)],
            ],
        ),
        f"one at a time: {_rate(one, SIZES['25 MB'])} MB/s, p50 {_ms(one['latencies_s'], 50)} ms",
        "",
        f"issue + sign (intake's result_signer: reportlab, pyHanko PAdES), {len(sign)} documents: "
        f"p50 {_ms(sign, 50)} ms, p99 {_ms(sign, 99)} ms",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, default=4, help="client processes / writers")
    parser.add_argument("--small", type=int, default=80, help="1 MB uploads")
    parser.add_argument("--large", type=int, default=12, help="25 MB uploads")
    parser.add_argument("--signatures", type=int, default=60, help="documents issued and signed")
    parser.add_argument("--client", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        url, size, count = args.client
        client(url, int(size), int(count))
        return
    from datetime import UTC, datetime

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    workdir = ROOT / "bench" / "results" / f"documents-{stamp}"
    workdir.mkdir(parents=True, exist_ok=True)
    infra = provide(keep=True)
    result = asyncio.run(
        measure(
            infra,
            concurrency=max(1, args.concurrency),
            small=args.small,
            large=args.large,
            signatures=args.signatures,
            logs=workdir,
        )
    )
    result["load_average"] = os.getloadavg()
    (workdir / "result.json").write_text(json.dumps(result, indent=2))
    print(render(result))
    print(f"load average (1, 5, 15 min): {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
