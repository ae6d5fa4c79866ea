"""Percentiles, the live progress line and the final table."""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Sequence
from typing import Any


def percentile(samples: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in 0..100); None without samples."""
    if not samples:
        return None
    ordered = sorted(samples)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def summary_ms(seconds: Sequence[float]) -> dict[str, float | int | None]:
    millis = [s * 1000 for s in seconds]
    return {
        "n": len(millis),
        "p50": _round(percentile(millis, 50)),
        "p95": _round(percentile(millis, 95)),
        "p99": _round(percentile(millis, 99)),
        "max": _round(max(millis) if millis else None),
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


class Progress:
    """One line on stderr, rewritten in place (``\\r``), at most a few times a second."""

    def __init__(self, every_s: float = 0.2) -> None:
        self._every_s = every_s
        self._last = 0.0
        self._width = 0

    def show(self, text: str, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < self._every_s:
            return
        self._last = now
        padded = text.ljust(self._width)
        self._width = len(text)
        sys.stderr.write(f"\r{padded}")
        sys.stderr.flush()

    def done(self, text: str) -> None:
        self.show(text, force=True)
        sys.stderr.write("\n")
        sys.stderr.flush()
        self._width = 0


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Plain text, the first column left-aligned and the others right-aligned."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [
        max(len(headers[i]), *(len(row[i]) for row in cells)) if cells else len(headers[i])
        for i in range(len(headers))
    ]

    def line(values: Sequence[str]) -> str:
        parts = [
            values[i].ljust(widths[i]) if i == 0 else values[i].rjust(widths[i])
            for i in range(len(values))
        ]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(list(headers)), rule, *(line(row) for row in cells)])


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if value >= 100:
            return f"{value:,.0f}"
        if value >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)
