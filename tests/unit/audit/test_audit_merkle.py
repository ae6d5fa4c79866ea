from __future__ import annotations

import hashlib
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit.domain.merkle import (
    EMPTY_ROOT,
    CompactRange,
    MerkleLevels,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root,
    verify_consistency,
    verify_inclusion,
)

# The RFC 6962 test tree used by certificate-transparency and trillian.
LEAVES = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    bytes.fromhex("5051525354555657"),
    bytes.fromhex("606162636465666768696a6b6c6d6e6f"),
]
ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
# (leaf index, tree size, proof) from the same suite.
INCLUSION_VECTORS = [
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (0, 1, []),
]
# (old size, new size, proof)
CONSISTENCY_VECTORS = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]
HASHES = [leaf_hash(leaf) for leaf in LEAVES]


def naive_root(hashes: Sequence[bytes]) -> bytes:
    """MTH exactly as written in RFC 9162 §2.1.1, recursively."""
    n = len(hashes)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashes[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return node_hash(naive_root(hashes[:k]), naive_root(hashes[k:]))


def naive_path(index: int, hashes: Sequence[bytes]) -> list[bytes]:
    n = len(hashes)
    if n <= 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if index < k:
        return [*naive_path(index, hashes[:k]), naive_root(hashes[k:])]
    return [*naive_path(index - k, hashes[k:]), naive_root(hashes[:k])]


def naive_subproof(m: int, hashes: Sequence[bytes], complete: bool) -> list[bytes]:
    n = len(hashes)
    if m == n:
        return [] if complete else [naive_root(hashes)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return [*naive_subproof(m, hashes[:k], complete), naive_root(hashes[k:])]
    return [*naive_subproof(m - k, hashes[k:], False), naive_root(hashes[:k])]


def numbered_hashes(n: int) -> list[bytes]:
    return [leaf_hash(i.to_bytes(4, "big")) for i in range(n)]


def flip(data: bytes, position: int) -> bytes:
    position %= len(data)
    return data[:position] + bytes([data[position] ^ 0x01]) + data[position + 1 :]


def test_hash_primitives() -> None:
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert leaf_hash(b"") == hashlib.sha256(b"\x00").digest()
    left, right = b"a" * 32, b"b" * 32
    assert node_hash(left, right) == hashlib.sha256(b"\x01" + left + right).digest()


def test_empty_tree_root() -> None:
    assert root([]) == EMPTY_ROOT
    assert CompactRange().root() == EMPTY_ROOT


@pytest.mark.parametrize("size", range(1, 9))
def test_known_roots(size: int) -> None:
    expected = bytes.fromhex(ROOTS[size - 1])
    assert root(HASHES[:size]) == expected
    assert naive_root(HASHES[:size]) == expected


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION_VECTORS)
def test_known_inclusion_proofs(index: int, size: int, proof: list[str]) -> None:
    expected = [bytes.fromhex(h) for h in proof]
    assert inclusion_proof(HASHES[:size], index) == expected
    assert verify_inclusion(HASHES[index], index, size, expected, bytes.fromhex(ROOTS[size - 1]))


@pytest.mark.parametrize(("old", "new", "proof"), CONSISTENCY_VECTORS)
def test_known_consistency_proofs(old: int, new: int, proof: list[str]) -> None:
    expected = [bytes.fromhex(h) for h in proof]
    assert consistency_proof(HASHES[:new], old) == expected
    old_root, new_root = bytes.fromhex(ROOTS[old - 1]), bytes.fromhex(ROOTS[new - 1])
    assert verify_consistency(old, new, old_root, new_root, expected)


@pytest.mark.parametrize("size", range(70))
def test_root_and_compact_range_match_recursive_definition(size: int) -> None:
    hashes = numbered_hashes(size)
    expected = naive_root(hashes)
    assert root(hashes) == expected
    tree = CompactRange()
    tree.extend(hashes)
    assert tree.size == size
    assert len(tree.frontier) == size.bit_count()
    assert tree.root() == expected


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 13, 33])
def test_proofs_match_recursive_definition(size: int) -> None:
    hashes = numbered_hashes(size)
    for index in range(size):
        assert inclusion_proof(hashes, index) == naive_path(index, hashes)
    for old in range(1, size):
        assert consistency_proof(hashes, old) == naive_subproof(old, hashes, True)


def test_proof_arguments_out_of_range() -> None:
    with pytest.raises(ValueError, match="outside"):
        inclusion_proof(HASHES, 8)
    with pytest.raises(ValueError, match="outside"):
        inclusion_proof(HASHES, -1)
    with pytest.raises(ValueError, match="outside"):
        consistency_proof(HASHES, 9)
    assert consistency_proof(HASHES, 0) == []
    assert consistency_proof(HASHES, 8) == []


def test_compact_range_resumes_from_saved_state() -> None:
    hashes = numbered_hashes(100)
    tree = CompactRange()
    tree.extend(hashes[:37])
    resumed = CompactRange(tree.size, tree.frontier)
    resumed.extend(hashes[37:])
    assert resumed.root() == root(hashes)
    copy = resumed.copy()
    copy.append(hashes[0])
    assert resumed.size == 100
    assert copy.size == 101


def test_compact_range_rejects_inconsistent_state() -> None:
    with pytest.raises(ValueError, match="frontier"):
        CompactRange(3, [b"\x00" * 32])
    with pytest.raises(ValueError, match="32-byte"):
        CompactRange(1, [b"short"])
    with pytest.raises(ValueError, match="negative"):
        CompactRange(-1, [])


def test_inclusion_rejects_bad_arguments() -> None:
    proof = inclusion_proof(HASHES, 5)
    good_root = root(HASHES)
    assert verify_inclusion(HASHES[5], 5, 8, proof, good_root)
    assert not verify_inclusion(HASHES[5], 8, 8, proof, good_root)
    assert not verify_inclusion(HASHES[5], -1, 8, proof, good_root)
    assert not verify_inclusion(HASHES[5], 4, 8, proof, good_root)
    assert not verify_inclusion(HASHES[5], 5, 16, proof, good_root)
    assert not verify_inclusion(HASHES[5], 5, 4, proof, good_root)
    assert not verify_inclusion(HASHES[5], 5, 8, proof[:-1], good_root)
    assert not verify_inclusion(HASHES[5], 5, 8, [*proof, good_root], good_root)
    assert not verify_inclusion(HASHES[5], 5, 8, [good_root, *proof], good_root)
    assert not verify_inclusion(HASHES[5], 5, 8, [*proof[:-1], b""], good_root)
    assert not verify_inclusion(b"WrongLeaf", 5, 8, proof, good_root)
    assert not verify_inclusion(HASHES[5], 5, 8, proof, EMPTY_ROOT)
    assert not verify_inclusion(HASHES[0], 0, 0, [], EMPTY_ROOT)


def test_consistency_edge_cases() -> None:
    r4, r8 = root(HASHES[:4]), root(HASHES)
    assert verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    assert verify_consistency(0, 8, EMPTY_ROOT, r8, [])
    assert not verify_consistency(0, 8, r4, r8, [])
    assert not verify_consistency(0, 8, EMPTY_ROOT, r8, [r8])
    assert verify_consistency(8, 8, r8, r8, [])
    assert not verify_consistency(8, 8, r8, r4, [])
    assert not verify_consistency(8, 8, r8, r8, [r8])
    assert not verify_consistency(8, 4, r8, r4, [])
    assert not verify_consistency(4, 8, r4, r8, [])
    assert not verify_consistency(-1, 8, r4, r8, [])
    proof = consistency_proof(HASHES, 4)
    assert verify_consistency(4, 8, r4, r8, proof)
    assert not verify_consistency(4, 8, r8, r4, proof)
    assert not verify_consistency(4, 8, r4, r8, [*proof, r8])
    assert not verify_consistency(4, 8, r4, r8, [r4, *proof])
    assert not verify_consistency(4, 8, r4, b"short", proof)


@st.composite
def tree_and_index(draw: st.DrawFn) -> tuple[list[bytes], int]:
    size = draw(st.integers(min_value=1, max_value=300))
    return numbered_hashes(size), draw(st.integers(min_value=0, max_value=size - 1))


@settings(max_examples=150, deadline=None)
@given(tree_and_index(), st.integers(min_value=0, max_value=10_000))
def test_inclusion_proofs_verify_and_detect_any_flipped_byte(
    case: tuple[list[bytes], int], where: int
) -> None:
    hashes, index = case
    size = len(hashes)
    tree_root = root(hashes)
    proof = inclusion_proof(hashes, index)
    assert verify_inclusion(hashes[index], index, size, proof, tree_root)

    assert not verify_inclusion(flip(hashes[index], where), index, size, proof, tree_root)
    assert not verify_inclusion(hashes[index], index, size, proof, flip(tree_root, where))
    if proof:
        element = where % len(proof)
        damaged = [*proof]
        damaged[element] = flip(damaged[element], where // len(proof))
        assert not verify_inclusion(hashes[index], index, size, damaged, tree_root)
        assert not verify_inclusion(hashes[index], index, size, proof[:-1], tree_root)


@st.composite
def two_sizes(draw: st.DrawFn) -> tuple[list[bytes], int]:
    new_size = draw(st.integers(min_value=2, max_value=300))
    return numbered_hashes(new_size), draw(st.integers(min_value=1, max_value=new_size - 1))


@settings(max_examples=150, deadline=None)
@given(two_sizes(), st.integers(min_value=0, max_value=10_000))
def test_consistency_proofs_verify_and_detect_any_flipped_byte(
    case: tuple[list[bytes], int], where: int
) -> None:
    hashes, old_size = case
    new_size = len(hashes)
    old_root, new_root = root(hashes[:old_size]), root(hashes)
    proof = consistency_proof(hashes, old_size)
    assert verify_consistency(old_size, new_size, old_root, new_root, proof)

    assert not verify_consistency(old_size, new_size, flip(old_root, where), new_root, proof)
    assert not verify_consistency(old_size, new_size, old_root, flip(new_root, where), proof)
    assert not verify_consistency(old_size, new_size, new_root, old_root, proof)
    element = where % len(proof)
    damaged = [*proof]
    damaged[element] = flip(damaged[element], where // len(proof))
    assert not verify_consistency(old_size, new_size, old_root, new_root, damaged)
    assert not verify_consistency(old_size, new_size, old_root, new_root, proof[:-1])
    # A history that diverges at any earlier leaf cannot be proven consistent.
    forked = [*hashes]
    forked[where % old_size] = leaf_hash(b"rewritten")
    assert not verify_consistency(old_size, new_size, root(forked[:old_size]), new_root, proof)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.binary(max_size=40), max_size=120))
def test_compact_range_root_after_every_append(leaves: list[bytes]) -> None:
    tree = CompactRange()
    hashes: list[bytes] = []
    for leaf in leaves:
        hashes.append(leaf_hash(leaf))
        tree.append(hashes[-1])
        assert tree.root() == root(hashes)


def test_kept_levels_give_the_rfcs_root_and_audit_paths() -> None:
    for size in range(0, 70):
        leaves = [leaf_hash(n.to_bytes(4, "big")) for n in range(size)]
        levels = MerkleLevels(leaves)
        assert levels.size == size
        assert levels.root() == root(leaves)
        for index in range(size):
            assert levels.leaf(index) == leaves[index]
            assert levels.inclusion_proof(index) == inclusion_proof(leaves, index), (size, index)
    with pytest.raises(ValueError, match="outside"):
        MerkleLevels([leaf_hash(b"a")]).inclusion_proof(1)
