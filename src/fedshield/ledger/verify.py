"""``verify_ledger``: the auditor's full check, trusting only the coordinator's public key.

Why recompute everything: stored Merkle nodes and hashes are the coordinator's
claims. The verifier rehashes every entry, rebuilds the tree in one streaming
pass (O(log n) memory), and requires every signed head's root to equal the
MTH of the entries it claims to cover. Roots of prefixes of one verified
sequence are consistent by construction; the consistency proofs the ledger
would serve to witnesses are checked too, so a ledger whose stored nodes lie
is caught even if its entries are intact.

Localising tampering: per-entry checks (stored leaf hash; with ``strict``
the canonical record schema) name the exact entry. If an attacker also
rewrote an entry's stored hash, the signed root still catches it, and
``_localise`` walks the stored tree down from that root to the exact entry
for as long as the stored nodes authenticate against it.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fedshield.errors import DataError, VerificationError
from fedshield.ledger import merkle
from fedshield.ledger.heads import SignedTreeHead
from fedshield.ledger.keys import PublicKeyLike, as_public_key, key_fingerprint
from fedshield.ledger.records import decode_record
from fedshield.ledger.store import ENTRIES_DDL, LedgerStore

__all__ = ["verify_ledger", "LedgerReport", "LedgerTamperError"]


class LedgerTamperError(VerificationError):
    """Verification failed at a known entry.

    ``index``/``kind`` name the first entry that cannot be trusted; every entry
    before it is intact. ``span`` is ``(index, end)``: the first altered entry
    lies in ``[index, end)`` (``end == index + 1`` when it is known exactly).
    """

    def __init__(
        self, message: str, *, index: int | None = None, kind: str | None = None, end: int | None = None
    ) -> None:
        super().__init__(message)
        self.index = index
        self.kind = kind
        self.span = None if index is None else (index, index + 1 if end is None else end)


@dataclass(frozen=True)
class LedgerReport:
    path: str
    log_id: str
    key_fingerprint: str
    key_pinned: bool
    entries: int
    heads: int
    signed_size: int
    unsigned_entries: int
    root_hash: str | None
    latest_head: SignedTreeHead | None

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "latest_head"}
        out["latest_head"] = None if self.latest_head is None else self.latest_head.to_dict()
        return out


def _tamper(msg: str, index: int | None, kind: str | None, end: int | None = None) -> LedgerTamperError:
    where = "" if index is None else f"Entry {index}" + (f" ({kind})" if kind else "") + ": "
    return LedgerTamperError(where + msg, index=index, kind=kind, end=end)


def _intact(lo: int) -> str:
    return "no entry before it is affected" if lo == 0 else f"entries 0..{lo - 1} are intact"


def _check_heads(heads: list[tuple[int, int | None, SignedTreeHead]], public_key: Any) -> None:
    prev: SignedTreeHead | None = None
    for seq, _round, head in heads:
        try:
            head.verify(public_key)
        except VerificationError:
            raise LedgerTamperError(
                f"Signed tree head #{seq} (size {head.tree_size}) has an invalid signature: it was forged, "
                "altered or replaced. Only the coordinator's key can produce valid heads."
            ) from None
        if prev is not None and (head.tree_size < prev.tree_size or head.timestamp_ms < prev.timestamp_ms):
            raise LedgerTamperError(
                f"Signed tree head #{seq} (size {head.tree_size}, t={head.timestamp_ms}) goes back from the "
                f"previous head (size {prev.tree_size}, t={prev.timestamp_ms}): heads were reordered or replaced."
            )
        prev = head


def _kind_of(body: object) -> str | None:
    try:
        kind = json.loads(body)["kind"]  # type: ignore[arg-type]
    except (ValueError, TypeError, KeyError):
        return None
    return kind if isinstance(kind, str) else None


def _kind_at(con: sqlite3.Connection, index: int) -> str | None:
    row = con.execute("SELECT body FROM entries WHERE idx = ?", (index,)).fetchone()
    return None if row is None else _kind_of(row[0])


def _check_schema(con: sqlite3.Connection) -> None:
    """The derived kind/round/site columns must be the ones we defined, or filtered views could lie."""
    row = con.execute("SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = 'entries'").fetchone()
    if row is None or row[0] != ENTRIES_DDL:
        raise LedgerTamperError(
            "The ledger's entries table definition was altered (its derived kind/round/site columns could "
            "hide entries from filtered views); treat this ledger as tampered."
        )


def _localise(store: LedgerStore, size: int, root: bytes) -> tuple[int, int]:
    """Narrow a root mismatch to the smallest span ``[lo, hi)`` holding the first altered entry.

    Stored nodes are untrusted, but a pair of stored children that hashes to an
    authentic (signed, or already authenticated) parent is authentic too. So we
    descend from the signed root, always into the left-most child whose
    recomputed hash differs from its authentic one, until a leaf (exact) or
    until the stored nodes stop authenticating (the attacker rewrote them too).
    """
    sha256 = hashlib.sha256
    rows = store.connection.execute("SELECT body FROM entries WHERE idx < ? ORDER BY idx", (size,))
    leaves = [sha256(b"\x00" + body).digest() for (body,) in rows]
    lo, hi, want = 0, size, root
    while hi - lo > 1:
        k = 1 << ((hi - lo - 1).bit_length() - 1)
        try:
            left = merkle.range_root(store.get_node, lo, lo + k)
            right = merkle.range_root(store.get_node, lo + k, hi)
        except DataError:
            break
        if merkle.node_hash(left, right) != want:
            break
        if merkle.root_from_leaf_hashes(leaves[lo : lo + k]) != left:
            hi, want = lo + k, left
        else:
            lo, want = lo + k, right
    return lo, hi


def _root_mismatch(store: LedgerStore, seq: int, head: SignedTreeHead, verified_upto: int) -> LedgerTamperError:
    lo, hi = _localise(store, head.tree_size, head.root_hash)
    if hi <= verified_upto:  # the prefix matches the previous head but not this one
        return _tamper(
            f"signed tree head #{seq} (size {head.tree_size}) disagrees with the earlier heads about entries "
            f"{lo}..{hi - 1}, which match them: the coordinator signed two different histories (a fork).",
            lo,
            _kind_at(store.connection, lo),
            hi,
        )
    lo = max(lo, verified_upto)
    kind = _kind_at(store.connection, lo)
    where = f"signed tree head #{seq} (size {head.tree_size})"
    if hi - lo == 1:
        return _tamper(
            f"it does not match {where}: its bytes were altered and its stored hash rewritten to hide "
            f"it; {_intact(lo)}.",
            lo,
            kind,
        )
    return _tamper(
        f"entries {lo}..{hi - 1} do not reproduce the root of {where}; the first altered entry is "
        f"among them ({_intact(lo)}). Their stored hashes were rewritten too, so the signed root cannot "
        "single it out; this is the first entry that cannot be trusted.",
        lo,
        kind,
        hi,
    )


def _first_gap(con: sqlite3.Connection) -> int:
    """The first index missing from 0..max (-1 if none), found in SQL so the scan need not fetch idx."""
    count, low, high = con.execute("SELECT count(*), min(idx), max(idx) FROM entries").fetchone()
    if count == 0 or (low == 0 and high == count - 1):
        return -1  # idx is a unique integer key: count == max + 1 and min == 0 means no holes
    if low != 0:
        return 0
    (gap,) = con.execute(
        "SELECT min(idx) + 1 FROM entries AS e WHERE NOT EXISTS (SELECT 1 FROM entries WHERE idx = e.idx + 1) "
        "AND idx < (SELECT max(idx) FROM entries)"
    ).fetchone()
    return gap


_CHUNK_LEVEL = 13
_CHUNK = 1 << _CHUNK_LEVEL


def _prefix_root(frontier: merkle.CompactRange, levels: list[list[bytes]], count: int) -> bytes:
    """Root over the frontier plus the first ``count`` leaves of a perfect chunk, in O(log n)."""
    roots, off = list(frontier.roots), 0
    for lvl in range(len(levels) - 1, -1, -1):
        if count >> lvl & 1:
            roots.append(levels[lvl][off >> lvl])
            off += 1 << lvl
    return merkle.fold_right(roots)


def _scan_entries(
    store: LedgerStore, heads: list[tuple[int, int | None, SignedTreeHead]], *, strict: bool
) -> int:
    """Rehash every entry and match each head's root; returns the entry count.

    Why chunks: 8192 rows at a time are hashed and paired in list comprehensions
    (C-speed loops), and each aligned chunk joins the frontier as one perfect
    subtree; a head inside a chunk costs O(log n) from the chunk's levels.
    """
    con = store.connection
    sha256 = hashlib.sha256
    boundaries = [(h.tree_size, seq, h) for seq, _r, h in heads]
    state = {"b": 0, "verified": 0}

    def next_size() -> int:
        return boundaries[state["b"]][0] if state["b"] < len(boundaries) else -1

    def check(root: bytes) -> None:
        size, seq, head = boundaries[state["b"]]
        if root != head.root_hash:
            raise _root_mismatch(store, seq, head, state["verified"])
        state["verified"] = size
        state["b"] += 1

    frontier = merkle.CompactRange()
    while next_size() == 0:
        check(merkle.EMPTY_ROOT)
    gap = _first_gap(con)
    cur = con.execute("SELECT body, leaf_hash FROM entries ORDER BY idx")
    while rows := cur.fetchmany(_CHUNK):
        n = frontier.size
        if 0 <= gap < n + len(rows):
            rows = rows[: gap - n]
        bodies = [r[0] for r in rows]
        try:
            leaves = [sha256(b"\x00" + body).digest() for body in bodies]
        except TypeError:
            i = next(i for i, body in enumerate(bodies) if not isinstance(body, bytes))
            raise _tamper("its body is not a blob; the entry was altered.", n + i, _kind_of(bodies[i])) from None
        # Per-entry checks first: they name an edited entry exactly and cost one list compare.
        stored = [r[1] for r in rows]
        if leaves != stored:
            i = next(i for i, (h, s) in enumerate(zip(leaves, stored)) if h != s)
            raise _tamper(
                "its bytes no longer match its stored leaf hash: the entry (or its hash) was altered.",
                n + i,
                _kind_of(bodies[i]),
            )
        if strict:
            for i, body in enumerate(bodies):
                try:
                    decode_record(body)
                except DataError as exc:
                    raise _tamper(f"it is not a valid audit record: {exc}", n + i, _kind_of(body)) from None
        if len(leaves) == _CHUNK:  # n is a multiple of _CHUNK: one perfect subtree
            levels = merkle.perfect_levels(leaves)
            while n < next_size() <= n + _CHUNK:
                check(_prefix_root(frontier, levels, next_size() - n))
            frontier.append_subtree(levels[-1][0], level=_CHUNK_LEVEL)
        else:
            for h in leaves:
                frontier.append(h)
                while frontier.size == next_size():
                    check(frontier.root())
        if frontier.size == gap:
            raise _tamper("missing: entries were deleted or renumbered.", gap, None)
    if state["b"] < len(boundaries):
        size, seq, _head = boundaries[state["b"]]
        n = frontier.size
        raise _tamper(
            f"missing: the ledger ends after {n} entries but signed tree head #{seq} covers {size}; "
            f"entries {n}..{size - 1} were deleted (truncated).",
            n,
            None,
        )
    return frontier.size


def _check_served_proofs(store: LedgerStore, heads: list[tuple[int, int | None, SignedTreeHead]]) -> None:
    for (s1, _r1, old), (s2, _r2, new) in zip(heads, heads[1:]):
        try:
            proof = store.consistency_proof(old_size=old.tree_size, new_size=new.tree_size)
            merkle.verify_consistency(
                old_size=old.tree_size,
                new_size=new.tree_size,
                old_root=old.root_hash,
                new_root=new.root_hash,
                proof=proof,
            )
        except (VerificationError, DataError) as exc:
            raise LedgerTamperError(
                f"The ledger's stored Merkle nodes are corrupt: the consistency proof it serves from head #{s1} "
                f"to head #{s2} fails ({exc}). Its entries verify, so rebuild the nodes from the entries."
            ) from None


def verify_ledger(
    path: str | os.PathLike, public_key: PublicKeyLike | None = None, *, strict: bool = False
) -> LedgerReport:
    """Check a ledger end to end; raise VerificationError naming the first bad entry.

    ``public_key`` is the coordinator key the auditor obtained out of band;
    without it the key embedded in the ledger is used and the report says
    ``key_pinned=False`` (proves integrity, not authorship). ``strict``
    re-validates every record's schema and canonical form (slower).
    """
    path = Path(path)
    with LedgerStore.open(path, readonly=True) as store:
        embedded = store.public_key
        pinned = public_key is not None
        key = as_public_key(public_key) if pinned else embedded
        if key_fingerprint(key) != key_fingerprint(embedded):
            raise VerificationError(
                f"Ledger {str(path)!r} names coordinator key {key_fingerprint(embedded)[:16]}…, but you trust "
                f"{key_fingerprint(key)[:16]}…: the ledger was re-keyed or you pinned the wrong key."
            )
        con = store.connection
        con.execute("BEGIN")  # one read snapshot: heads and entries from the same moment
        try:
            heads = store.heads()
            _check_heads(heads, key)
            _check_schema(con)
            count = _scan_entries(store, heads, strict=strict)
            _check_served_proofs(store, heads)
        finally:
            con.execute("COMMIT")
        latest = heads[-1][2] if heads else None
        signed = latest.tree_size if latest else 0
        return LedgerReport(
            path=str(path),
            log_id=store.log_id.hex(),
            key_fingerprint=key_fingerprint(key),
            key_pinned=pinned,
            entries=count,
            heads=len(heads),
            signed_size=signed,
            unsigned_entries=count - signed,
            root_hash=None if latest is None else latest.root_hash.hex(),
            latest_head=latest,
        )
