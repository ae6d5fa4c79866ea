"""How the local launcher assembles the store: FerretDB in front of PostgreSQL."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.infra import load_launcher

ROOT = Path(__file__).resolve().parents[3]
BUILD = ROOT / "deploy" / "store" / "build-extensions.sh"


def test_asking_for_the_store_starts_postgresql_first() -> None:
    launcher = load_launcher()
    assert launcher.components._resolve(["store"]) == ["postgres", "store"]
    assert launcher.components._resolve(["ferretdb", "kafka"]) == ["kafka", "postgres", "store"]
    # A crash or restart of FerretDB alone must leave PostgreSQL running.
    assert launcher.components._resolve("store", requirements=False) == ["store"]


def test_the_store_waits_for_postgresql_before_it_starts() -> None:
    launcher = load_launcher()
    names = launcher.components._resolve(["kafka", "store"])
    later = [n for n in names if set(launcher.REQUIRES.get(n, ())) & set(names)]
    assert later == ["store"]


def test_every_source_archive_is_pinned_by_its_sha256() -> None:
    rows = [
        line.split()
        for line in (ROOT / "deploy" / "store" / "sources.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert {row[0].split("-")[0] for row in rows} == {"documentdb", "pg_cron", "pgvector"}
    for name, sha, url in rows:
        assert len(sha) == 64, name
        assert int(sha, 16) >= 0, name
        assert url.startswith("https://"), name


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_an_archive_whose_bytes_differ_from_the_pinned_ones_is_refused(tmp_path: Path) -> None:
    sources = tmp_path / "sources"
    sources.mkdir()
    first = (ROOT / "deploy" / "store" / "sources.txt").read_text().split("\n")
    name = next(line.split()[0] for line in first if line and not line.startswith("#"))
    (sources / name).write_bytes(b"not the upstream archive")
    prefix = tmp_path / "pg"
    proc = subprocess.run(
        ["bash", str(BUILD), str(sources), str(prefix)],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "TMPDIR": str(tmp_path)},
    )
    if "pg_config" in proc.stderr and "missing" in proc.stderr:
        pytest.skip("PostgreSQL's server headers are not installed on this machine")
    assert proc.returncode != 0
    assert "sha256" in proc.stderr
    assert name in proc.stderr
    assert not prefix.exists()
