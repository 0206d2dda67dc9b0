"""RFC 9162 Merkle kernel against a naive transcription of the RFC and fixed vectors."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fedshield.errors import VerificationError
from fedshield.ledger import merkle

# --- a deliberately naive reference, written straight from RFC 9162 section 2.1 -----------


def sha(b: bytes) -> bytes:
    return hashlib.sha256(b).digest()


def split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(d: list[bytes]) -> bytes:
    n = len(d)
    if n == 0:
        return sha(b"")
    if n == 1:
        return sha(b"\x00" + d[0])
    k = split(n)
    return sha(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:]))


def ref_path(m: int, d: list[bytes]) -> list[bytes]:
    n = len(d)
    if n == 1:
        return []
    k = split(n)
    if m < k:
        return ref_path(m, d[:k]) + [ref_mth(d[k:])]
    return ref_path(m - k, d[k:]) + [ref_mth(d[:k])]


def ref_subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [ref_mth(d)]
    k = split(n)
    if m <= k:
        return ref_subproof(m, d[:k], b) + [ref_mth(d[k:])]
    return ref_subproof(m - k, d[k:], False) + [ref_mth(d[:k])]


def ref_proof(m: int, d: list[bytes]) -> list[bytes]:
    return ref_subproof(m, d, True)


# --- a stored tree of every perfect node, as a ledger would hold it ----------------------


def perfect_nodes(leaves: list[bytes]) -> dict[tuple[int, int], bytes]:
    nodes = {(0, i): merkle.leaf_hash(e) for i, e in enumerate(leaves)}
    level, width = 0, len(leaves)
    while width > 1:
        for i in range(width // 2):
            nodes[(level + 1, i)] = merkle.node_hash(nodes[(level, 2 * i)], nodes[(level, 2 * i + 1)])
        level, width = level + 1, width // 2
    return nodes


def getter(nodes: dict[tuple[int, int], bytes], calls: list | None = None):
    def get(level: int, idx: int) -> bytes:
        if calls is not None:
            calls.append((level, idx))
        return nodes[(level, idx)]

    return get


# The RFC 6962 / CT test-suite inputs.
CT_LEAVES = [bytes.fromhex(h) for h in (
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f",
)]
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
BIG = [i.to_bytes(4, "big") for i in range(1 << 11)]
BIG_NODES = perfect_nodes(BIG)
BIG_LEAF_HASHES = [BIG_NODES[(0, i)] for i in range(len(BIG))]


def test_empty_tree_is_sha256_of_empty_string():
    assert merkle.EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert merkle.mth([]) == merkle.EMPTY_ROOT == ref_mth([])


def test_leaf_and_node_prefixes():
    assert merkle.leaf_hash(b"") == sha(b"\x00")
    assert merkle.node_hash(b"a" * 32, b"b" * 32) == sha(b"\x01" + b"a" * 32 + b"b" * 32)


@pytest.mark.parametrize("n", range(1, 9))
def test_fixed_ct_root_vectors(n):
    assert merkle.mth(CT_LEAVES[:n]).hex() == CT_ROOTS[n - 1] == ref_mth(CT_LEAVES[:n]).hex()


def test_fixed_ct_proof_vectors():
    get = getter(perfect_nodes(CT_LEAVES))
    assert [p.hex() for p in merkle.inclusion_proof(get, leaf_index=0, tree_size=8)] == [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ]
    assert [p.hex() for p in merkle.consistency_proof(get, old_size=1, new_size=8)] == [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ]


@pytest.mark.parametrize("n", range(0, 34))
def test_roots_proofs_match_reference_exhaustively(n):
    d = BIG[:n]
    get = getter(BIG_NODES)
    root = ref_mth(d)
    assert merkle.mth(d) == root
    assert merkle.root_from_leaf_hashes(BIG_LEAF_HASHES[:n]) == root
    assert merkle.range_root(get, 0, n) == root
    cr = merkle.CompactRange()
    for h in BIG_LEAF_HASHES[:n]:
        cr.append(h)
    assert cr.root() == root
    for m in range(n):
        proof = merkle.inclusion_proof(get, leaf_index=m, tree_size=n)
        assert proof == ref_path(m, d)
        merkle.verify_inclusion(leaf_index=m, tree_size=n, leaf=BIG_LEAF_HASHES[m], proof=proof, root=root)
    for m in range(0, n + 1):
        proof = merkle.consistency_proof(get, old_size=m, new_size=n)
        assert proof == ([] if m in (0, n) else ref_proof(m, d))
        merkle.verify_consistency(old_size=m, new_size=n, old_root=ref_mth(d[:m]), new_root=root, proof=proof)


def test_compact_range_reports_completed_nodes():
    cr = merkle.CompactRange()
    made = [cr.append(h) for h in BIG_LEAF_HASHES[:8]]
    assert [lvl for lvl, _i, _h in made[7]] == [0, 1, 2, 3]
    assert made[7][-1][2] == BIG_NODES[(3, 0)]
    restored = merkle.CompactRange(size=8, roots=[BIG_NODES[(3, 0)]])
    assert restored.root() == cr.root()
    with pytest.raises(ValueError):
        merkle.CompactRange(size=3, roots=[b"x" * 32])


def test_proofs_read_o_log_n_nodes():
    n = len(BIG) - 3
    for m in (0, n // 2, n - 1):
        calls: list = []
        proof = merkle.inclusion_proof(getter(BIG_NODES, calls), leaf_index=m, tree_size=n)
        assert len(proof) <= n.bit_length() and len(calls) <= 2 * n.bit_length()
        calls = []
        merkle.consistency_proof(getter(BIG_NODES, calls), old_size=m + 1, new_size=n)
        assert len(calls) <= 3 * n.bit_length()


def test_verify_errors_name_the_problem():
    get = getter(BIG_NODES)
    root = merkle.range_root(get, 0, 10)
    proof = merkle.inclusion_proof(get, leaf_index=3, tree_size=10)
    with pytest.raises(VerificationError, match="outside a tree of size 10"):
        merkle.verify_inclusion(leaf_index=10, tree_size=10, leaf=BIG_LEAF_HASHES[3], proof=proof, root=root)
    with pytest.raises(VerificationError, match="more than the tree's height"):
        merkle.verify_inclusion(leaf_index=3, tree_size=10, leaf=BIG_LEAF_HASHES[3], proof=proof * 2, root=root)
    with pytest.raises(VerificationError, match="too short"):
        merkle.verify_inclusion(leaf_index=3, tree_size=10, leaf=BIG_LEAF_HASHES[3], proof=proof[:-1], root=root)
    with pytest.raises(VerificationError, match="32-byte"):
        merkle.verify_inclusion(leaf_index=3, tree_size=10, leaf=b"short", proof=proof, root=root)
    old = merkle.range_root(get, 0, 4)
    with pytest.raises(VerificationError, match="shrank"):
        merkle.verify_consistency(old_size=10, new_size=4, old_root=root, new_root=old, proof=[])
    with pytest.raises(VerificationError, match="forked"):
        merkle.verify_consistency(old_size=4, new_size=4, old_root=old, new_root=root, proof=[])
    with pytest.raises(VerificationError, match="empty"):
        merkle.verify_consistency(old_size=4, new_size=10, old_root=old, new_root=root, proof=[])


def test_generation_rejects_bad_sizes():
    get = getter(BIG_NODES)
    with pytest.raises(ValueError):
        merkle.inclusion_proof(get, leaf_index=5, tree_size=5)
    with pytest.raises(ValueError):
        merkle.consistency_proof(get, old_size=6, new_size=5)


_SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _mutate(proof: list[bytes], how: int, pos: int, bit: int) -> list[bytes]:
    p = list(proof)
    if how == 0 and p:
        i = pos % len(p)
        p[i] = bytes([p[i][0] ^ (1 << bit)]) + p[i][1:]
    elif how == 1 and p:
        del p[pos % len(p)]
    elif how == 2:
        p.insert(pos % (len(p) + 1), BIG_LEAF_HASHES[pos % len(BIG)])
    elif how == 3 and len(p) > 1:
        i = pos % (len(p) - 1)
        p[i], p[i + 1] = p[i + 1], p[i]
    return p


@_SETTINGS
@given(n=st.integers(1, len(BIG)), data=st.data())
def test_inclusion_proofs_verify_and_mutations_fail(n, data):
    m = data.draw(st.integers(0, n - 1))
    get = getter(BIG_NODES)
    root = merkle.root_from_leaf_hashes(BIG_LEAF_HASHES[:n])
    proof = merkle.inclusion_proof(get, leaf_index=m, tree_size=n)
    merkle.verify_inclusion(leaf_index=m, tree_size=n, leaf=BIG_LEAF_HASHES[m], proof=proof, root=root)

    how, pos, bit = data.draw(st.integers(0, 3)), data.draw(st.integers(0, 64)), data.draw(st.integers(0, 7))
    bad = _mutate(proof, how, pos, bit)
    if bad != proof:
        with pytest.raises(VerificationError):
            merkle.verify_inclusion(leaf_index=m, tree_size=n, leaf=BIG_LEAF_HASHES[m], proof=bad, root=root)
    other = data.draw(st.integers(0, n - 1))
    if other != m:  # the proof binds the index, and the leaf
        with pytest.raises(VerificationError):
            merkle.verify_inclusion(leaf_index=other, tree_size=n, leaf=BIG_LEAF_HASHES[m], proof=proof, root=root)
        with pytest.raises(VerificationError):
            merkle.verify_inclusion(leaf_index=m, tree_size=n, leaf=BIG_LEAF_HASHES[other], proof=proof, root=root)


@_SETTINGS
@given(n=st.integers(1, len(BIG)), data=st.data())
def test_consistency_proofs_verify_and_mutations_fail(n, data):
    m = data.draw(st.integers(1, n))
    get = getter(BIG_NODES)
    old_root = merkle.root_from_leaf_hashes(BIG_LEAF_HASHES[:m])
    new_root = merkle.root_from_leaf_hashes(BIG_LEAF_HASHES[:n])
    proof = merkle.consistency_proof(get, old_size=m, new_size=n)
    merkle.verify_consistency(old_size=m, new_size=n, old_root=old_root, new_root=new_root, proof=proof)

    how, pos, bit = data.draw(st.integers(0, 3)), data.draw(st.integers(0, 64)), data.draw(st.integers(0, 7))
    bad = _mutate(proof, how, pos, bit)
    if bad != proof:
        with pytest.raises(VerificationError):
            merkle.verify_consistency(old_size=m, new_size=n, old_root=old_root, new_root=new_root, proof=bad)
    # A forked history: same sizes, one earlier leaf changed.
    if m >= 1:
        forked = list(BIG_LEAF_HASHES[:n])
        j = data.draw(st.integers(0, m - 1))
        forked[j] = merkle.leaf_hash(b"rewritten")
        fork_root = merkle.root_from_leaf_hashes(forked)
        fork_proof = merkle.consistency_proof(getter(perfect_nodes_from_hashes(forked)), old_size=m, new_size=n)
        with pytest.raises(VerificationError):
            merkle.verify_consistency(old_size=m, new_size=n, old_root=old_root, new_root=fork_root,
                                      proof=fork_proof)


def perfect_nodes_from_hashes(hashes: list[bytes]) -> dict[tuple[int, int], bytes]:
    nodes = {(0, i): h for i, h in enumerate(hashes)}
    level, width = 0, len(hashes)
    while width > 1:
        for i in range(width // 2):
            nodes[(level + 1, i)] = merkle.node_hash(nodes[(level, 2 * i)], nodes[(level, 2 * i + 1)])
        level, width = level + 1, width // 2
    return nodes
