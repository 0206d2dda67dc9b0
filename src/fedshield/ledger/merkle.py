"""RFC 9162 Merkle tree hashing, proofs and their verification.

Why pure: the auditor's trust rests on this module alone, so it imports only
``hashlib`` and never touches storage. Proof *generation* reads hashes through
a ``get_node(level, index)`` callback that returns the root of the perfect
subtree covering leaves ``[index * 2**level, (index + 1) * 2**level)``; every
storage layer that keeps those immutable nodes gets O(log n) proofs for free,
because a proof needs at most one non-perfect (right-edge) subtree root and
that one is itself O(log n) perfect nodes folded together.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

from fedshield.errors import VerificationError, param_error

__all__ = [
    "HASH_SIZE",
    "EMPTY_ROOT",
    "leaf_hash",
    "node_hash",
    "root_from_leaf_hashes",
    "mth",
    "CompactRange",
    "fold_right",
    "perfect_levels",
    "frontier_nodes",
    "range_root",
    "inclusion_proof",
    "consistency_proof",
    "root_from_inclusion_proof",
    "verify_inclusion",
    "verify_consistency",
]

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

NodeGetter = Callable[[int, int], bytes]

_sha256 = hashlib.sha256


def leaf_hash(entry: bytes) -> bytes:
    """Hash one log entry; the 0x00 prefix stops a leaf posing as a node."""
    return _sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Hash two children; the 0x01 prefix is the RFC's domain separation."""
    return _sha256(b"\x01" + left + right).digest()


def _largest_power_of_two_below(n: int) -> int:
    """The RFC's split point k: the largest power of two strictly below n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def root_from_leaf_hashes(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH over already-hashed leaves, bottom-up.

    Why bottom-up: pairing neighbours and promoting a trailing odd node builds
    exactly the RFC's left-full tree without recursion or slicing copies.
    """
    if not leaf_hashes:
        return EMPTY_ROOT
    level = list(leaf_hashes)
    while len(level) > 1:
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def mth(entries: Iterable[bytes]) -> bytes:
    """The Merkle Tree Hash of raw entries (RFC 9162 section 2.1.1)."""
    return root_from_leaf_hashes([leaf_hash(e) for e in entries])


class CompactRange:
    """The frontier of perfect subtree roots for a growing log.

    Why: appends cost O(1) amortised hashing and the current root O(log n),
    without keeping or rereading the log. ``append`` returns the perfect
    nodes it completed so a store can persist them for later proofs.
    """

    __slots__ = ("size", "_stack")

    def __init__(self, *, size: int = 0, roots: Sequence[bytes] = ()) -> None:
        if size < 0 or len(roots) != bin(size).count("1"):
            raise param_error(
                "roots", "CompactRange", "one hash per set bit of size", f"{len(roots)} roots for size {size}"
            )
        self.size = size
        self._stack = list(roots)

    def copy(self) -> CompactRange:
        return CompactRange(size=self.size, roots=self._stack)

    @property
    def roots(self) -> tuple[bytes, ...]:
        return tuple(self._stack)

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Add a leaf hash; return the (level, index, hash) nodes it completed."""
        index = self.size
        stack = self._stack
        stack.append(leaf)
        made = [(0, index, leaf)]
        level = 0
        while index & 1:
            right = stack.pop()
            stack[-1] = node_hash(stack[-1], right)
            index >>= 1
            level += 1
            made.append((level, index, stack[-1]))
        self.size += 1
        return made

    def append_subtree(self, root: bytes, *, level: int) -> None:
        """Add a whole perfect subtree of 2**level leaves (the size must be a multiple of it)."""
        if self.size & ((1 << level) - 1):
            raise param_error("level", "CompactRange.append_subtree", f"aligned with size {self.size}", level)
        stack = self._stack
        stack.append(root)
        self.size += 1 << level
        m = self.size >> level
        while not m & 1:
            right = stack.pop()
            stack[-1] = node_hash(stack[-1], right)
            m >>= 1

    def root(self) -> bytes:
        """Fold the frontier right-to-left: the RFC's right subtrees nest rightwards."""
        return fold_right(self._stack)


def fold_right(roots: Sequence[bytes]) -> bytes:
    """Combine perfect subtree roots (largest, leftmost first) into the tree's root."""
    if not roots:
        return EMPTY_ROOT
    acc = roots[-1]
    for h in reversed(roots[:-1]):
        acc = node_hash(h, acc)
    return acc


def perfect_levels(leaves: list[bytes]) -> list[list[bytes]]:
    """Every node of a perfect tree (len(leaves) a power of two), level by level, leaves first."""
    levels = [leaves]
    while len(levels[-1]) > 1:
        lv = levels[-1]
        levels.append([node_hash(a, b) for a, b in zip(lv[0::2], lv[1::2])])
    return levels


def frontier_nodes(size: int) -> list[tuple[int, int]]:
    """The (level, index) of each perfect subtree in a log of ``size`` leaves, left to right."""
    out: list[tuple[int, int]] = []
    offset = 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            out.append((level, offset >> level))
            offset += 1 << level
    return out


def range_root(get_node: NodeGetter, start: int, end: int) -> bytes:
    """MTH of leaves ``[start, end)`` built from stored perfect subtrees.

    Why recursive on the RFC split: the ranges proofs ask for are always
    aligned, so the left half is one stored node and only the right half
    recurses, giving O(log n) lookups.
    """
    size = end - start
    if size <= 0:
        return EMPTY_ROOT
    if size & (size - 1) == 0 and start % size == 0:
        return get_node(size.bit_length() - 1, start // size)
    if size == 1:
        return get_node(0, start)
    k = _largest_power_of_two_below(size)
    return node_hash(range_root(get_node, start, start + k), range_root(get_node, start + k, end))


def _check_sizes(owner: str, **sizes: int) -> None:
    for name, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise param_error(name, owner, "an int >= 0", value)


def inclusion_proof(get_node: NodeGetter, *, leaf_index: int, tree_size: int) -> list[bytes]:
    """PATH(m, D[n]) of RFC 9162 section 2.1.3.1, leaf-side sibling first."""
    _check_sizes("inclusion_proof", leaf_index=leaf_index, tree_size=tree_size)
    if leaf_index >= tree_size:
        raise param_error("leaf_index", "inclusion_proof", f"below tree_size={tree_size}", leaf_index)
    path: list[bytes] = []
    m, start, end = leaf_index, 0, tree_size
    while end - start > 1:
        k = _largest_power_of_two_below(end - start)
        if m < k:
            path.append(range_root(get_node, start + k, end))
            end = start + k
        else:
            path.append(range_root(get_node, start, start + k))
            m -= k
            start += k
    path.reverse()
    return path


def consistency_proof(get_node: NodeGetter, *, old_size: int, new_size: int) -> list[bytes]:
    """PROOF(m, D[n]) of RFC 9162 section 2.1.4.1; empty when m is 0 or m == n."""
    _check_sizes("consistency_proof", old_size=old_size, new_size=new_size)
    if old_size > new_size:
        raise param_error("old_size", "consistency_proof", f"<= new_size={new_size}", old_size)
    if old_size == 0 or old_size == new_size:
        return []
    path: list[bytes] = []
    m, start, end, complete = old_size, 0, new_size, True
    while m != end - start:
        k = _largest_power_of_two_below(end - start)
        if m <= k:
            path.append(range_root(get_node, start + k, end))
            end = start + k
        else:
            path.append(range_root(get_node, start, start + k))
            m -= k
            start += k
            complete = False
    if not complete:
        path.append(range_root(get_node, start, end))
    path.reverse()
    return path


def _check_hashes(owner: str, **hashes: bytes) -> None:
    for name, value in hashes.items():
        if not isinstance(value, (bytes, bytearray)) or len(value) != HASH_SIZE:
            raise VerificationError(
                f"{owner}: {name} must be a {HASH_SIZE}-byte SHA-256 digest. "
                f"Got {value!r:.80} instead; pass raw bytes (bytes.fromhex for hex)."
            )


def root_from_inclusion_proof(
    *, leaf_index: int, tree_size: int, leaf: bytes, proof: Sequence[bytes]
) -> bytes:
    """Run RFC 9162 section 2.1.3.2 and return the root the proof implies."""
    _check_sizes("verify_inclusion", leaf_index=leaf_index, tree_size=tree_size)
    _check_hashes("verify_inclusion", leaf_hash=leaf, **{f"proof[{i}]": p for i, p in enumerate(proof)})
    if leaf_index >= tree_size:
        raise VerificationError(
            f"Inclusion proof is for leaf {leaf_index}, which is outside a tree of size {tree_size}; "
            "ask for a proof against a tree head that covers the entry."
        )
    fn, sn, r = leaf_index, tree_size - 1, bytes(leaf)
    for p in proof:
        if sn == 0:
            raise VerificationError(
                f"Inclusion proof for leaf {leaf_index} in a tree of size {tree_size} has "
                f"{len(proof)} hashes, more than the tree's height allows; the proof was altered."
            )
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise VerificationError(
            f"Inclusion proof for leaf {leaf_index} in a tree of size {tree_size} is too short "
            f"({len(proof)} hashes); the proof was truncated or built for another tree size."
        )
    return r


def verify_inclusion(
    *, leaf_index: int, tree_size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Prove ``leaf`` (a leaf hash) sits at ``leaf_index`` under ``root``, or raise."""
    _check_hashes("verify_inclusion", root=root)
    got = root_from_inclusion_proof(leaf_index=leaf_index, tree_size=tree_size, leaf=leaf, proof=proof)
    if got != root:
        raise VerificationError(
            f"Inclusion proof for leaf {leaf_index} in a tree of size {tree_size} yields root "
            f"{got.hex()}, not the expected {bytes(root).hex()}: the entry, the proof or the tree head "
            "was altered."
        )


def verify_consistency(
    *, old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Prove the tree of ``old_size`` is a prefix of the tree of ``new_size`` (RFC 9162 2.1.4.2)."""
    _check_sizes("verify_consistency", old_size=old_size, new_size=new_size)
    _check_hashes(
        "verify_consistency",
        old_root=old_root,
        new_root=new_root,
        **{f"proof[{i}]": p for i, p in enumerate(proof)},
    )
    where = f"from size {old_size} to size {new_size}"
    if old_size > new_size:
        raise VerificationError(
            f"Tree shrank {where}: a log can only grow, so entries were removed (history rewritten)."
        )
    if old_size == new_size or old_size == 0:
        if proof:
            raise VerificationError(f"Consistency proof {where} must be empty; it has {len(proof)} hashes.")
        if old_size == new_size and old_root != new_root:
            raise VerificationError(
                f"Two different roots for the same tree size {old_size} ({bytes(old_root).hex()} vs "
                f"{bytes(new_root).hex()}): the log forked."
            )
        if old_size == 0 and old_root != EMPTY_ROOT:
            raise VerificationError("The root of an empty tree must be SHA-256 of the empty string.")
        return
    if not proof:
        raise VerificationError(f"Consistency proof {where} is empty; a non-trivial proof is required.")
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, bytes(old_root))
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise VerificationError(f"Consistency proof {where} has too many hashes; the proof was altered.")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise VerificationError(f"Consistency proof {where} is too short; it was truncated or altered.")
    if fr != old_root:
        raise VerificationError(
            f"Consistency proof {where} does not reproduce the old root {bytes(old_root).hex()}: "
            "the log's history up to the old size was rewritten (fork) or the proof was altered."
        )
    if sr != new_root:
        raise VerificationError(
            f"Consistency proof {where} does not reproduce the new root {bytes(new_root).hex()}: "
            "the new tree is not an append-only extension of the old one (fork) or the proof was altered."
        )
