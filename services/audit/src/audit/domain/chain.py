"""Hash chain over audit entries.

One chain for the whole log
---------------------------
The audit service keeps a single chain for the entire log: every entry gets a ``seq``
(1-based, contiguous, no gaps) and links to the entry before it, instead of one chain per
Kafka partition or per dossier. Reasons:

* an auditor proves the whole log with one signed checkpoint, not one per partition whose set
  itself would need proving complete;
* the Merkle tree over the log has exactly ``seq`` leaves, so a checkpoint's ``tree_size`` is
  the seq of the last entry it covers and "entry N" means the same thing in the chain, in the
  tree and in every report.

The cost is one sequence: appends are serialised through it even when several replicas of
the service append (``audit.adapters.consumer``: the store's unique index on ``seq`` lets
exactly one writer take each position, the others re-seal on top). That is acceptable
because entries are sealed in batches (one store round trip per batch; hashing costs tens
of microseconds per entry), which keeps throughput far above the rate at which dossier
events are produced; the consumers upstream stay partitioned and parallel.

Entry hash
----------
``entry_hash = SHA-256(bytes.fromhex(prev_hash) || canonical_json(body))`` where ``body`` is
the JSON object with exactly the fields in ``HASHED_FIELDS``:
``seq, event_id, event_type, dossier_id, actor, occurred_at, recorded_at, changes, trace_id,
payload`` (``changes`` as a list of ``{"field", "old", "new"}`` objects, absent optional
values as ``null``). ``prev_hash`` and ``entry_hash`` are not part of the body; ``prev_hash``
is committed through the 32-byte prefix. The first entry uses ``GENESIS_PREV_HASH`` (64
zeros). See ``audit.domain.canonical`` for the byte encoding.

Merkle leaf
-----------
The Merkle leaf of an entry is its 32 raw ``entry_hash`` bytes (``leaf_bytes``). The entry
hash already commits to the whole body and, through ``prev_hash``, to every earlier entry, so
hashing the full JSON again would cost a second canonicalisation per entry for no extra
assurance. Consequence: a leaf only vouches for an entry whose ``entry_hash`` has been
recomputed from its content (``compute_entry_hash``); the verifiers here always do that.

Detecting tampering
-------------------
``verify_chain`` streams the entries once, keeping only the previous hash and one entry of
look-ahead, so memory is constant however long the log is. It stops at the first problem:

* content changed without re-sealing -> "entry edited (hash mismatch)";
* a seq is skipped -> "entry missing (sequence gap)";
* a seq goes backwards, repeats, or a skipped seq shows up right after -> "entry inserted or
  reordered";
* an entry is self-consistent but does not point at its predecessor -> "chain link broken"
  (a predecessor was re-sealed or the entry was fabricated).

A chain alone cannot reveal entries removed from the end, or a suffix rewritten and re-sealed
by someone holding the store; signed checkpoints (``audit.domain.verification``) close that.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Final

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from audit.domain.canonical import canonical_json
from audit.domain.failures import Failure, FailureReason

__all__ = [
    "GENESIS_PREV_HASH",
    "HASHED_FIELDS",
    "AuditEntry",
    "ChainReport",
    "ChainVerifier",
    "FieldChange",
    "HexHash",
    "IsoTimestamp",
    "MalformedEntryError",
    "compute_entry_hash",
    "iso_utc",
    "leaf_bytes",
    "seal",
    "verify_chain",
    "with_lookahead",
]

GENESIS_PREV_HASH: Final = "0" * 64

HASHED_FIELDS: Final = (
    "seq",
    "event_id",
    "event_type",
    "dossier_id",
    "actor",
    "occurred_at",
    "recorded_at",
    "changes",
    "trace_id",
    "payload",
)
# A set, not a frozenset: what pydantic's ``exclude`` is typed to take.
_UNHASHED: Final[set[str]] = {"prev_hash", "entry_hash"}


def _check_iso_timestamp(value: str) -> str:
    # Validate without normalising: the stored text is what gets hashed, so rewriting it here
    # would change the hash of entries sealed elsewhere.
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"not an ISO-8601 timestamp: {value!r}") from None
    if parsed.utcoffset() is None:
        raise ValueError(f"timestamp needs a UTC offset to be unambiguous: {value!r}")
    return value


HexHash = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
"""A SHA-256 digest as 64 lowercase hex characters (one spelling, so hashes compare as text)."""

IsoTimestamp = Annotated[str, AfterValidator(_check_iso_timestamp)]
"""An ISO-8601 timestamp with a UTC offset, kept verbatim."""


def iso_utc(moment: datetime) -> str:
    """Format an aware datetime the way audit entries store it: UTC, microseconds, ``Z``."""
    if moment.utcoffset() is None:
        raise ValueError("audit timestamps must be timezone-aware")
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


class FieldChange(BaseModel):
    """One changed field of a dossier, as recorded in an audit entry."""

    model_config = ConfigDict(frozen=True, strict=True, extra="forbid")

    field: str
    old: Any = None
    new: Any = None


class AuditEntry(BaseModel):
    """One sealed record of the audit log.

    Strict and closed (``extra="forbid"``): a field added to an exported entry would not be
    covered by its hash, so such an entry is rejected rather than silently accepted. The
    ``payload`` is expected to be redacted before sealing; it must hold JSON values only.
    """

    model_config = ConfigDict(frozen=True, strict=True, extra="forbid")

    seq: int = Field(ge=1)
    event_id: str = Field(min_length=1)
    event_type: str = Field(min_length=1)
    dossier_id: str | None = None
    actor: str = Field(min_length=1)
    occurred_at: IsoTimestamp
    recorded_at: IsoTimestamp
    changes: list[FieldChange] = Field(default_factory=list)
    trace_id: str | None = None
    payload: dict[str, Any] = Field(default_factory=dict)
    prev_hash: HexHash
    entry_hash: HexHash


class MalformedEntryError(ValueError):
    """Raised by an entry source (e.g. an NDJSON reader) for a record that is not an entry.

    The chain and log verifiers catch it from the iterator they consume and report
    "entry unreadable" at the next expected seq instead of aborting.
    """

    def __init__(self, detail: str, line: int | None = None) -> None:
        where = f"line {line}: " if line is not None else ""
        super().__init__(f"{where}{detail}")
        self.detail = detail
        self.line = line


def compute_entry_hash(entry: AuditEntry) -> str:
    """Recompute an entry's hash from its content and ``prev_hash`` (hex).

    Raises ``TypeError``/``ValueError`` if the content is not canonical JSON.
    """
    body = entry.model_dump(mode="python", exclude=_UNHASHED)
    return hashlib.sha256(bytes.fromhex(entry.prev_hash) + canonical_json(body)).hexdigest()


def seal(
    *,
    seq: int,
    event_id: str,
    event_type: str,
    dossier_id: str | None,
    actor: str,
    occurred_at: str,
    recorded_at: str,
    changes: Sequence[FieldChange | Mapping[str, Any]],
    trace_id: str | None,
    payload: Mapping[str, Any],
    prev_hash: str,
) -> AuditEntry:
    """Build the audit entry at ``seq`` linked to ``prev_hash`` and compute its ``entry_hash``.

    Raises ``pydantic.ValidationError`` for invalid fields and ``TypeError``/``ValueError``
    when ``changes``/``payload`` are not canonical JSON (e.g. a ``datetime`` instead of an
    ISO string).
    """
    draft = AuditEntry.model_validate(
        {
            "seq": seq,
            "event_id": event_id,
            "event_type": event_type,
            "dossier_id": dossier_id,
            "actor": actor,
            "occurred_at": occurred_at,
            "recorded_at": recorded_at,
            "changes": [
                change if isinstance(change, FieldChange) else copy.deepcopy(dict(change))
                for change in changes
            ],
            "trace_id": trace_id,
            # A sealed entry must not share mutable state with the caller, or a later edit of
            # the caller's dict would silently invalidate the hash.
            "payload": copy.deepcopy(dict(payload)),
            "prev_hash": prev_hash,
            "entry_hash": GENESIS_PREV_HASH,
        }
    )
    return draft.model_copy(update={"entry_hash": compute_entry_hash(draft)})


def leaf_bytes(entry: AuditEntry) -> bytes:
    """The Merkle leaf of an entry: its 32 raw ``entry_hash`` bytes (see module docstring)."""
    return bytes.fromhex(entry.entry_hash)


class ChainReport(BaseModel):
    """Outcome of ``verify_chain``.

    ``entries_checked`` counts entries verified intact, i.e. before ``first_failure``.
    ``last_seq``/``last_entry_hash`` describe the head of that verified prefix (the start
    values when nothing was verified), so a caller can resume from there.
    """

    model_config = ConfigDict(frozen=True)

    ok: bool
    entries_checked: int
    last_seq: int
    last_entry_hash: str
    first_failure: Failure | None = None


class ChainVerifier:
    """Streaming chain check: feed entries in log order with one entry of look-ahead.

    Shared by ``verify_chain`` and the full log verifier so both classify tampering the same
    way. State is the expected next seq and the previous entry hash: constant memory.
    """

    __slots__ = ("_entries_checked", "_expected_seq", "_head_hash", "_start_seq")

    def __init__(self, start_prev_hash: str = GENESIS_PREV_HASH, start_seq: int = 1) -> None:
        if start_seq < 1:
            raise ValueError("seq starts at 1")
        self._start_seq = start_seq
        self._expected_seq = start_seq
        self._head_hash = start_prev_hash
        self._entries_checked = 0

    @property
    def expected_seq(self) -> int:
        return self._expected_seq

    @property
    def head_hash(self) -> str:
        """``entry_hash`` of the last verified entry (or the start hash)."""
        return self._head_hash

    @property
    def entries_checked(self) -> int:
        return self._entries_checked

    def check(self, entry: AuditEntry, following: AuditEntry | None) -> Failure | None:
        """Verify ``entry`` as the next entry; advance on success, else describe the failure.

        ``following`` is the entry after it (``None`` at the end); it only serves to tell a
        reordering or insertion apart from a plain deletion or edit.
        """
        expected = self._expected_seq
        if entry.seq < expected:
            return Failure(
                seq=entry.seq,
                reason=FailureReason.ENTRY_INSERTED_OR_REORDERED,
                detail=f"seq {entry.seq} appears again after seq {expected - 1}",
            )
        if entry.seq > expected:
            if following is not None and following.seq < entry.seq:
                return Failure(
                    seq=expected,
                    reason=FailureReason.ENTRY_INSERTED_OR_REORDERED,
                    detail=(
                        f"expected seq {expected}, found seq {entry.seq} "
                        f"followed by seq {following.seq}"
                    ),
                )
            missing = (
                f"seq {expected}"
                if entry.seq == expected + 1
                else f"seq {expected} to {entry.seq - 1}"
            )
            return Failure(
                seq=expected,
                reason=FailureReason.ENTRY_MISSING,
                detail=f"{missing} not found; next entry present is seq {entry.seq}",
            )
        duplicate_follows = following is not None and following.seq == entry.seq
        try:
            actual = compute_entry_hash(entry)
        except (TypeError, ValueError) as exc:
            return Failure(
                seq=expected,
                reason=FailureReason.ENTRY_UNREADABLE,
                detail=f"content is not canonical JSON: {exc}",
            )
        if actual != entry.entry_hash:
            if duplicate_follows:
                return _duplicate(expected)
            return Failure(
                seq=expected,
                reason=FailureReason.ENTRY_EDITED,
                detail=f"stored entry_hash {entry.entry_hash[:16]}…, content hashes to "
                f"{actual[:16]}…",
            )
        if entry.prev_hash != self._head_hash:
            if duplicate_follows:
                return _duplicate(expected)
            before = f"seq {expected - 1}" if expected > self._start_seq else "the start hash"
            return Failure(
                seq=expected,
                reason=FailureReason.CHAIN_LINK_BROKEN,
                detail=f"prev_hash {entry.prev_hash[:16]}… is not the entry_hash of {before} "
                f"({self._head_hash[:16]}…)",
            )
        self._expected_seq = expected + 1
        self._head_hash = entry.entry_hash
        self._entries_checked += 1
        return None

    def unreadable(self, error: MalformedEntryError) -> Failure:
        """The failure to report when the entry source yields something that is not an entry."""
        return Failure(
            seq=self._expected_seq, reason=FailureReason.ENTRY_UNREADABLE, detail=str(error)
        )

    def report(self, failure: Failure | None) -> ChainReport:
        return ChainReport(
            ok=failure is None,
            entries_checked=self._entries_checked,
            last_seq=self._expected_seq - 1,
            last_entry_hash=self._head_hash,
            first_failure=failure,
        )


def _duplicate(seq: int) -> Failure:
    return Failure(
        seq=seq,
        reason=FailureReason.ENTRY_INSERTED_OR_REORDERED,
        detail=f"two entries claim seq {seq}",
    )


def with_lookahead(
    entries: Iterable[AuditEntry],
) -> Iterator[tuple[AuditEntry, AuditEntry | None]]:
    """Yield ``(entry, following)`` pairs; ``following`` is ``None`` for the last entry.

    A ``MalformedEntryError`` from the source is deferred until the entry before it has been
    yielded, so that entry is still checked before the error surfaces.
    """
    iterator = iter(entries)
    try:
        current = next(iterator)
    except StopIteration:
        return
    while True:
        try:
            following = next(iterator)
        except StopIteration:
            yield current, None
            return
        except MalformedEntryError:
            yield current, None
            raise
        yield current, following
        current = following


def verify_chain(
    entries: Iterable[AuditEntry],
    start_prev_hash: str = GENESIS_PREV_HASH,
    start_seq: int = 1,
) -> ChainReport:
    """Check that ``entries`` form an intact chain starting at ``start_seq``.

    Streams the entries once in constant memory and stops at the first failure. To check a
    segment of the log, pass the ``entry_hash`` of the entry before it and its first seq.
    """
    verifier = ChainVerifier(start_prev_hash, start_seq)
    failure: Failure | None = None
    try:
        for entry, following in with_lookahead(entries):
            failure = verifier.check(entry, following)
            if failure is not None:
                break
    except MalformedEntryError as exc:
        failure = verifier.unreadable(exc)
    return verifier.report(failure)
