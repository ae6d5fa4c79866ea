"""py-spy attached to running services for the length of a load: a sampling profile per
process, written as speedscope JSON (open it at https://www.speedscope.app, or summarise it
with ``python -m bench.profile_summary``)."""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

# Samples a second: enough for the top costs of a 20-60 s load, and small files.
RATE = 50


def _py_spy() -> str | None:
    found = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    return found if Path(found).exists() else None


@contextlib.contextmanager
def profiled(targets: dict[str, int], out_dir: Path) -> Iterator[dict[str, Path]]:
    """py-spy on each ``name -> pid`` while the block runs; yields the files written. A
    process py-spy cannot attach to (ptrace refused) is left out, silently."""
    py_spy = _py_spy()
    running: dict[str, tuple[subprocess.Popen[bytes], Path]] = {}
    if py_spy is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        for name, pid in targets.items():
            path = out_dir / f"{name}.speedscope.json"
            running[name] = (
                subprocess.Popen(
                    [
                        py_spy,
                        "record",
                        "--pid",
                        str(pid),
                        "--format",
                        "speedscope",
                        "--rate",
                        str(RATE),
                        # Never stops the process: its timing stays what it is unprofiled.
                        "--nonblocking",
                        "-o",
                        str(path),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                ),
                path,
            )
        time.sleep(1.0)
    written: dict[str, Path] = {}
    try:
        yield written
    finally:
        for process, _ in running.values():
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        for name, (process, path) in running.items():
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if path.exists() and path.stat().st_size > 0:
                written[name] = path
