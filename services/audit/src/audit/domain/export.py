"""NDJSON export format of the audit log, shared by the export endpoint and offline verifier.

* entries file: one audit entry per line, the JSON object of ``AuditEntry.model_dump(
  mode="json")`` (any JSON spelling of it: key order and whitespace do not matter, hashes are
  recomputed over canonical JSON), in seq order;
* checkpoints file: one ``Checkpoint`` JSON object per line, any order.

Blank lines are ignored. The functions here turn text into models and back; reading files is
left to the caller.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from pydantic import ValidationError

from audit.domain.chain import AuditEntry, MalformedEntryError
from audit.domain.checkpoint import Checkpoint

__all__ = [
    "MalformedCheckpointError",
    "checkpoint_to_line",
    "entry_to_line",
    "iter_checkpoints",
    "iter_entries",
    "parse_checkpoint",
    "parse_entry",
]


class MalformedCheckpointError(ValueError):
    """A checkpoints file line that is not a checkpoint."""

    def __init__(self, detail: str, line: int | None = None) -> None:
        where = f"line {line}: " if line is not None else ""
        super().__init__(f"{where}{detail}")
        self.detail = detail
        self.line = line


def entry_to_line(entry: AuditEntry) -> str:
    """One NDJSON line (without the newline) for an audit entry."""
    return entry.model_dump_json()


def checkpoint_to_line(checkpoint: Checkpoint) -> str:
    """One NDJSON line (without the newline) for a checkpoint."""
    return checkpoint.model_dump_json()


def _summarise(error: ValidationError) -> str:
    first = error.errors()[0]
    location = ".".join(str(part) for part in first["loc"]) or "record"
    extra = f" (+{error.error_count() - 1} more)" if error.error_count() > 1 else ""
    return f"{location}: {first['msg']}{extra}"


def parse_entry(line: str | bytes, line_no: int | None = None) -> AuditEntry:
    """Parse one entries-file line; raises ``MalformedEntryError``."""
    try:
        return AuditEntry.model_validate_json(line)
    except ValidationError as exc:
        raise MalformedEntryError(_summarise(exc), line_no) from exc


def parse_checkpoint(line: str | bytes, line_no: int | None = None) -> Checkpoint:
    """Parse one checkpoints-file line; raises ``MalformedCheckpointError``."""
    try:
        return Checkpoint.model_validate_json(line)
    except ValidationError as exc:
        raise MalformedCheckpointError(_summarise(exc), line_no) from exc


def iter_entries(lines: Iterable[str | bytes]) -> Iterator[AuditEntry]:
    """Parse entries lazily, so a large export is never held in memory.

    A bad line raises ``MalformedEntryError`` carrying its 1-based line number; the log
    verifiers turn that into an "entry unreadable" failure.
    """
    for line_no, line in enumerate(lines, start=1):
        if line.strip():
            yield parse_entry(line, line_no)


def iter_checkpoints(lines: Iterable[str | bytes]) -> Iterator[Checkpoint]:
    for line_no, line in enumerate(lines, start=1):
        if line.strip():
            yield parse_checkpoint(line, line_no)
