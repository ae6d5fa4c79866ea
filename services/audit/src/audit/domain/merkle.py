"""Merkle Tree Hash over the audit log, as specified by RFC 9162 §2.1 (Certificate
Transparency v2, the same tree as RFC 6962).

* leaf hash ``SHA-256(0x00 || leaf)``, interior node ``SHA-256(0x01 || left || right)`` -- the
  prefixes keep a leaf from ever being mistaken for an interior node;
* the tree of ``n > 1`` leaves splits at ``k``, the largest power of two strictly below ``n``;
* the hash of the empty tree is ``SHA-256("")``.

Inclusion proofs (§2.1.3) show one audit entry is in the tree a checkpoint signed; consistency
proofs (§2.1.4) show a later checkpoint's tree extends an earlier one, i.e. nothing recorded
before was rewritten. Proof hashes are ordered from the leaf (or older subtree) upwards, as in
the RFC. Proof generation here works from the full list of leaf hashes and costs O(n); the
verifiers cost O(log n). ``MerkleLevels`` keeps every level of one tree, so that after one
O(n) build any number of inclusion proofs in it cost O(log n) each.

``CompactRange`` keeps the running root while leaves are appended one at a time, holding only
the roots of the perfect subtrees that make up the tree (one per set bit of the size).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Final

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "CompactRange",
    "MerkleLevels",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE: Final = 32
EMPTY_ROOT: Final = hashlib.sha256(b"").digest()

_sha256 = hashlib.sha256
_LEAF_PREFIX: Final = b"\x00"
_NODE_PREFIX: Final = b"\x01"


def leaf_hash(data: bytes) -> bytes:
    """RFC 9162 leaf hash of ``data``."""
    return _sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 interior node hash."""
    return _sha256(_NODE_PREFIX + left + right).digest()


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """Merkle Tree Hash of the given leaf hashes, in O(n) time.

    Hashes level by level, carrying an unpaired last node up unchanged. That yields the same
    tree as the RFC's split at the largest power of two: the left part of every split is a
    perfect subtree, so pairing from the left never crosses a split, and a node carried up is
    exactly the right subtree the RFC would hash at a higher level.
    """
    if not leaf_hashes:
        return EMPTY_ROOT
    level = list(leaf_hashes)
    while len(level) > 1:
        pairs = iter(level)
        carried = level[-1] if len(level) % 2 else None
        # zip over one iterator takes consecutive pairs; the odd tail was saved in `carried`.
        level = [
            _sha256(_NODE_PREFIX + left + right).digest()
            for left, right in zip(pairs, pairs, strict=False)
        ]
        if carried is not None:
            level.append(carried)
    return level[0]


def _split_point(n: int) -> int:
    """Largest power of two strictly less than ``n`` (``n >= 2``)."""
    return 1 << ((n - 1).bit_length() - 1)


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int) -> list[bytes]:
    """Audit path (RFC 9162 §2.1.3.1) for leaf ``index`` in the tree of all ``leaf_hashes``."""
    size = len(leaf_hashes)
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is outside a tree of size {size}")
    siblings: list[bytes] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _split_point(hi - lo)
        if index < lo + k:
            siblings.append(root(leaf_hashes[lo + k : hi]))
            hi = lo + k
        else:
            siblings.append(root(leaf_hashes[lo : lo + k]))
            lo += k
    siblings.reverse()  # collected root-down; the RFC lists them leaf-up
    return siblings


def consistency_proof(leaf_hashes: Sequence[bytes], old_size: int) -> list[bytes]:
    """Consistency proof (RFC 9162 §2.1.4.1, SUBPROOF) from ``old_size`` to the full tree.

    Empty when ``old_size`` is 0 or equals the current size: nothing needs proving.
    """
    size = len(leaf_hashes)
    if not 0 <= old_size <= size:
        raise ValueError(f"old size {old_size} is outside 0..{size}")
    if old_size in (0, size):
        return []
    nodes: list[bytes] = []
    lo, hi, m = 0, size, old_size
    # SUBPROOF's flag b: true while the old tree is still the left edge of the subtree
    # being examined, in which case the verifier already knows that subtree's hash.
    whole_old_tree = True
    while True:
        if m == hi - lo:
            if not whole_old_tree:
                nodes.append(root(leaf_hashes[lo:hi]))
            break
        k = _split_point(hi - lo)
        if m <= k:
            nodes.append(root(leaf_hashes[lo + k : hi]))
            hi = lo + k
        else:
            nodes.append(root(leaf_hashes[lo : lo + k]))
            lo += k
            m -= k
            whole_old_tree = False
    nodes.reverse()  # SUBPROOF emits the deepest node first
    return nodes


def _all_hashes(*hashes: bytes) -> bool:
    return all(isinstance(h, bytes) and len(h) == HASH_SIZE for h in hashes)


def verify_inclusion(
    leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """Check an inclusion proof with the algorithm of RFC 9162 §2.1.3.2."""
    if not 0 <= index < tree_size or not _all_hashes(leaf_hash, root, *proof):
        return False
    fn, sn = index, tree_size - 1
    r = leaf_hash
    for p in proof:
        if sn == 0:
            return False  # more proof than tree height
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Check a consistency proof with the algorithm of RFC 9162 §2.1.4.2.

    Edge cases the RFC leaves to the caller: equal sizes need an empty proof and equal roots;
    the empty tree (size 0, root ``EMPTY_ROOT``) is consistent with any tree given an empty
    proof.
    """
    if not 0 <= old_size <= new_size or not _all_hashes(old_root, new_root, *proof):
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if old_size == 0:
        return not proof and old_root == EMPTY_ROOT
    if not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        # The old tree is a perfect subtree of the new one; its root starts the path.
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root


class CompactRange:
    """Running Merkle root over leaves appended one at a time, in O(log n) memory.

    The state is ``size`` and ``frontier``: the roots of the perfect subtrees the tree of that
    size decomposes into, left (largest) to right -- one per set bit of ``size``. Persisting
    those two values lets the appender resume without rereading the log.
    """

    __slots__ = ("_frontier", "_size")

    def __init__(self, size: int = 0, frontier: Sequence[bytes] = ()) -> None:
        if size < 0:
            raise ValueError("size cannot be negative")
        if len(frontier) != size.bit_count():
            raise ValueError(
                f"a tree of size {size} has {size.bit_count()} frontier hashes, got {len(frontier)}"
            )
        if not _all_hashes(*frontier):
            raise ValueError("frontier hashes must be 32-byte digests")
        self._size = size
        self._frontier = list(frontier)

    @property
    def size(self) -> int:
        return self._size

    @property
    def frontier(self) -> tuple[bytes, ...]:
        return tuple(self._frontier)

    def append(self, leaf_hash: bytes) -> None:
        """Add the next leaf hash (amortised O(1) node hashes)."""
        frontier = self._frontier
        merged = leaf_hash
        size = self._size
        # Each trailing one bit of the old size is a perfect subtree the new leaf completes.
        while size & 1:
            merged = _sha256(_NODE_PREFIX + frontier.pop() + merged).digest()
            size >>= 1
        frontier.append(merged)
        self._size += 1

    def extend(self, leaf_hashes: Iterable[bytes]) -> None:
        for h in leaf_hashes:
            self.append(h)

    def root(self) -> bytes:
        """Merkle Tree Hash of the leaves so far, in O(log n)."""
        if not self._frontier:
            return EMPTY_ROOT
        frontier = self._frontier
        result = frontier[-1]
        for left in reversed(frontier[:-1]):
            result = node_hash(left, result)
        return result

    def copy(self) -> CompactRange:
        return CompactRange(self._size, self._frontier)

    def __repr__(self) -> str:
        return f"CompactRange(size={self._size}, root={self.root().hex()})"


class MerkleLevels:
    """Every level of the tree over a fixed list of leaf hashes: the same tree as `root`
    (pairs from the left, an unpaired last node carried up unchanged), kept whole so that
    an inclusion proof reads one sibling per level instead of rehashing the tree. About
    two hashes of memory per leaf."""

    def __init__(self, leaf_hashes: Sequence[bytes]) -> None:
        levels = [list(leaf_hashes)]
        while len(levels[-1]) > 1:
            level = levels[-1]
            upper = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
            if len(level) % 2:
                upper.append(level[-1])
            levels.append(upper)
        self._levels = levels

    @property
    def size(self) -> int:
        return len(self._levels[0])

    def root(self) -> bytes:
        return self._levels[-1][0] if self.size else EMPTY_ROOT

    def leaf(self, index: int) -> bytes:
        return self._levels[0][index]

    def inclusion_proof(self, index: int) -> list[bytes]:
        """The audit path of leaf ``index``, leaf-up, as `inclusion_proof` gives it: a node
        carried up unpaired has no sibling at that level, and the RFC's path skips it too."""
        if not 0 <= index < self.size:
            raise ValueError(f"leaf index {index} is outside a tree of size {self.size}")
        path: list[bytes] = []
        position = index
        for level in self._levels[:-1]:
            sibling = position ^ 1
            if sibling < len(level):
                path.append(level[sibling])
            position //= 2
        return path
