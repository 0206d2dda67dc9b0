"""The append-only ledger file: one SQLite database per federation.

Durability: WAL journal with ``synchronous=FULL``. In WAL mode FULL fsyncs the
WAL at every commit, so a committed append (and a signed tree head already
handed to witnesses) survives power loss. NORMAL-with-WAL would skip that
fsync: the file stays consistent, but the last commits can vanish, and a
coordinator that loses a head its sites have seen looks exactly like one that
forked. Batching a round into one transaction pays one fsync per batch.

Crash safety: every append is one ``BEGIN IMMEDIATE`` ... ``COMMIT`` (a round
and its signed head share one); SQLite rolls back an interrupted transaction,
and the in-memory frontier is only replaced after the commit, so the log is
always at its last complete batch.

Storage for O(log n) proofs: ``entries.leaf_hash`` holds level 0 and
``nodes(level, idx)`` every completed perfect subtree above it, each written
once when the append completes it (see ``merkle.CompactRange``).
"""

from __future__ import annotations

import os
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fedshield.errors import ConfigError, DataError, SecurityError
from fedshield.ledger import merkle
from fedshield.ledger.heads import SignedTreeHead, sign_tree_head
from fedshield.ledger.keys import PublicKeyLike, as_public_key, key_fingerprint, public_key_bytes
from fedshield.ledger.records import Record, decode_record

__all__ = ["LedgerStore", "Entry", "FORMAT_VERSION"]

FORMAT_VERSION = "1"
T = TypeVar("T")
_FLUSH_ROWS = 8192

# kind/round/site are VIRTUAL columns computed from the body by SQLite on every read:
# a filtered view (``audit show --site``) can never disagree with the hashed bytes,
# and the verifier need not parse a million bodies. ``verify`` pins this DDL.
# CAST to TEXT: since SQLite 3.45 a BLOB handed to json_* may be read as binary JSONB.
ENTRIES_DDL = (
    "CREATE TABLE entries(idx INTEGER PRIMARY KEY, body BLOB NOT NULL, leaf_hash BLOB NOT NULL, "
    "kind TEXT GENERATED ALWAYS AS (json_extract(CAST(body AS TEXT), '$.kind')) VIRTUAL, "
    "round INTEGER GENERATED ALWAYS AS (json_extract(CAST(body AS TEXT), '$.payload.round')) VIRTUAL, "
    "site TEXT GENERATED ALWAYS AS (json_extract(CAST(body AS TEXT), '$.payload.site')) VIRTUAL)"
)
_SCHEMA = f"""
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
{ENTRIES_DDL};
CREATE TABLE nodes(
    level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL,
    PRIMARY KEY(level, idx)) WITHOUT ROWID;
CREATE TABLE heads(
    seq INTEGER PRIMARY KEY, tree_size INTEGER NOT NULL, root_hash BLOB NOT NULL,
    timestamp_ms INTEGER NOT NULL, signature BLOB NOT NULL, round INTEGER);
"""
# Guards against bugs, not attackers (who can drop them); verify_ledger is the real check.
_TRIGGERS = "".join(
    f"CREATE TRIGGER {t}_no_{op} BEFORE {op.upper()} ON {t} "
    f"BEGIN SELECT RAISE(ABORT, 'the FedShield ledger is append-only'); END;\n"
    for t in ("entries", "nodes", "heads", "meta")
    for op in ("update", "delete")
)


class _EncodedRecord(Protocol):
    body: bytes


@dataclass(frozen=True, slots=True)
class Entry:
    """One stored event, as a report or the ``audit show`` command reads it."""

    index: int
    kind: str | None  # None when the body is not JSON (a tampered entry)
    round: int | None
    site: str | None
    body: bytes
    leaf_hash: bytes

    @property
    def record(self) -> Record:
        return decode_record(self.body)

    @property
    def payload(self) -> dict[str, Any]:
        return dict(self.record.payload)


def _connect(path: Path, *, readonly: bool) -> sqlite3.Connection:
    if readonly:
        con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None,
                              check_same_thread=False)  # callers serialize access (AuditSink's lock)
    else:
        con = sqlite3.connect(path, isolation_level=None, timeout=30.0,
                              check_same_thread=False)  # callers serialize access (AuditSink's lock)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=FULL")
    return con


class LedgerStore:
    """Append-only SQLite log with stored Merkle nodes and signed tree heads."""

    def __init__(self, con: sqlite3.Connection, path: Path) -> None:
        self._con = con
        self.path = path
        try:
            meta = dict(con.execute("SELECT key, value FROM meta"))
        except sqlite3.DatabaseError as exc:
            con.close()
            raise DataError(f"{str(path)!r} is not a FedShield ledger ({exc}); check the path.") from None
        if meta.get("format") != FORMAT_VERSION:
            con.close()
            raise DataError(
                f"{str(path)!r} has ledger format {meta.get('format')!r}; this FedShield reads format "
                f"{FORMAT_VERSION}. Upgrade FedShield, or check that the path is a FedShield ledger."
            )
        self.log_id = bytes.fromhex(meta["log_id"])
        self.public_key = as_public_key(bytes.fromhex(meta["public_key"]))
        self._cached: merkle.CompactRange | None = None  # loaded lazily: verify must open broken files

    # -- opening -------------------------------------------------------------------
    @classmethod
    def create(cls, path: str | os.PathLike, *, public_key: PublicKeyLike, log_id: bytes | None = None) -> LedgerStore:
        """Create a new, empty ledger bound to the coordinator's public key."""
        path = Path(path)
        if path.exists():
            raise ConfigError(f"Ledger {str(path)!r} already exists; open it with LedgerStore.open().")
        log_id = secrets.token_bytes(32) if log_id is None else log_id
        if len(log_id) != 32:
            raise ConfigError(f"A log id must be 32 bytes; got {len(log_id)}.")
        meta = {
            "format": FORMAT_VERSION,
            "log_id": log_id.hex(),
            "public_key": public_key_bytes(public_key).hex(),
            "created_ms": str(int(time.time() * 1000)),
        }
        inserts = "".join(f"INSERT INTO meta VALUES ('{k}', '{v}');\n" for k, v in meta.items())
        con = _connect(path, readonly=False)
        # One script, one transaction: a crash mid-create never leaves a half-made ledger.
        con.executescript(f"BEGIN IMMEDIATE;\n{_SCHEMA}{_TRIGGERS}{inserts}COMMIT;")
        return cls(con, path)

    @classmethod
    def open(cls, path: str | os.PathLike, *, readonly: bool = False) -> LedgerStore:
        path = Path(path)
        if not path.is_file():
            raise DataError(f"Ledger {str(path)!r} does not exist; check the path or create it first.")
        return cls(_connect(path, readonly=readonly), path)

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> LedgerStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- tree ------------------------------------------------------------------------
    def _db_size(self) -> int:
        (last,) = self._con.execute("SELECT max(idx) FROM entries").fetchone()
        return 0 if last is None else last + 1

    def _load_frontier(self, size: int) -> merkle.CompactRange:
        roots = [self.get_node(level, idx) for level, idx in merkle.frontier_nodes(size)]
        return merkle.CompactRange(size=size, roots=roots)

    def get_node(self, level: int, idx: int) -> bytes:
        """The stored root of perfect subtree ``idx`` at ``level``; DataError if absent."""
        if level == 0:
            row = self._con.execute("SELECT leaf_hash FROM entries WHERE idx = ?", (idx,)).fetchone()
        else:
            row = self._con.execute("SELECT hash FROM nodes WHERE level = ? AND idx = ?", (level, idx)).fetchone()
        if row is None:
            raise DataError(
                f"Ledger {str(self.path)!r} lacks Merkle node (level {level}, index {idx}); the file is "
                "truncated or was edited. Run `fedshield audit verify` on it."
            )
        return row[0]

    @property
    def _frontier(self) -> merkle.CompactRange:
        if self._cached is None:
            self._cached = self._load_frontier(self._db_size())
        return self._cached

    @_frontier.setter
    def _frontier(self, value: merkle.CompactRange) -> None:
        self._cached = value

    @property
    def size(self) -> int:
        return self._frontier.size

    def root(self, tree_size: int | None = None) -> bytes:
        """MTH of the first ``tree_size`` entries (default: all), from stored nodes."""
        if tree_size is None or tree_size == self.size:
            return self._frontier.root()
        self._check_size("tree_size", tree_size)
        return merkle.range_root(self.get_node, 0, tree_size)

    def refresh(self) -> int:
        """Re-read the size after another process appended; returns it."""
        self._cached = None
        return self.size

    def _check_size(self, name: str, value: int) -> None:
        if isinstance(value, int) and value > self.size:
            self.refresh()  # another writer may have grown the log since we cached it
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= self.size:
            raise ConfigError(f"{name} must be an int in [0, {self.size}] for this ledger; got {value!r}.")

    def inclusion_proof(self, *, leaf_index: int, tree_size: int) -> list[bytes]:
        self._check_size("tree_size", tree_size)
        return merkle.inclusion_proof(self.get_node, leaf_index=leaf_index, tree_size=tree_size)

    def consistency_proof(self, *, old_size: int, new_size: int) -> list[bytes]:
        self._check_size("new_size", new_size)
        return merkle.consistency_proof(self.get_node, old_size=old_size, new_size=new_size)

    # -- writing ---------------------------------------------------------------------
    def _begin(self) -> merkle.CompactRange:
        """Start a write transaction; resync if another writer appended meanwhile."""
        self._con.execute("BEGIN IMMEDIATE")
        db_size = self._db_size()
        return self._frontier.copy() if db_size == self.size else self._load_frontier(db_size)

    def _transaction(self, work: Callable[[merkle.CompactRange], T]) -> T:
        """Run ``work(frontier)`` in one write transaction; adopt the frontier only after COMMIT."""
        try:
            frontier = self._begin()
            result = work(frontier)
            self._con.execute("COMMIT")
        except BaseException:
            if self._con.in_transaction:
                self._con.execute("ROLLBACK")
            raise
        self._frontier = frontier
        return result

    def _insert(self, frontier: merkle.CompactRange, records: Iterable[_EncodedRecord]) -> range:
        start = frontier.size
        entry_rows: list[tuple[int, bytes, bytes]] = []
        node_rows: list[tuple[int, int, bytes]] = []
        for rec in records:
            idx = frontier.size
            made = frontier.append(merkle.leaf_hash(rec.body))
            entry_rows.append((idx, rec.body, made[0][2]))
            node_rows.extend(made[1:])
            if len(entry_rows) >= _FLUSH_ROWS:
                self._flush(entry_rows, node_rows)
        self._flush(entry_rows, node_rows)
        return range(start, frontier.size)

    def _flush(self, entry_rows: list[tuple[int, bytes, bytes]], node_rows: list[tuple[int, int, bytes]]) -> None:
        self._con.executemany("INSERT INTO entries(idx, body, leaf_hash) VALUES (?, ?, ?)", entry_rows)
        self._con.executemany("INSERT INTO nodes VALUES (?, ?, ?)", node_rows)
        entry_rows.clear()
        node_rows.clear()

    def append_many(self, records: Iterable[_EncodedRecord]) -> range:
        """Append records in ONE transaction: all become durable together or none do."""
        return self._transaction(lambda frontier: self._insert(frontier, records))

    def append(self, record: _EncodedRecord) -> int:
        return self.append_many([record]).start

    def sign_tree_head(
        self,
        signing_key: Ed25519PrivateKey,
        *,
        records: Iterable[_EncodedRecord] = (),
        timestamp_ms: int | None = None,
        round_num: int | None = None,
    ) -> SignedTreeHead:
        """Append ``records`` and sign a head over the whole log, in one transaction.

        Why one: a round's events and the head that seals them become durable
        together (one fsync), and a crash can never leave a head without its
        entries or a round half-written.
        """
        if key_fingerprint(signing_key) != key_fingerprint(self.public_key):
            raise SecurityError(
                f"This signing key (fingerprint {key_fingerprint(signing_key)[:16]}…) is not the key ledger "
                f"{str(self.path)!r} is bound to ({key_fingerprint(self.public_key)[:16]}…); load the "
                "coordinator key the ledger was created with."
            )

        def work(frontier: merkle.CompactRange) -> SignedTreeHead:
            self._insert(frontier, records)
            last = self._latest_head_row()
            ts = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
            ts = max(ts, last[3]) if last else ts  # witnesses reject heads whose time goes backwards
            head = sign_tree_head(
                signing_key, log_id=self.log_id, tree_size=frontier.size, root_hash=frontier.root(), timestamp_ms=ts
            )
            self._con.execute(
                "INSERT INTO heads(tree_size, root_hash, timestamp_ms, signature, round) VALUES (?, ?, ?, ?, ?)",
                (head.tree_size, head.root_hash, head.timestamp_ms, head.signature, round_num),
            )
            return head

        return self._transaction(work)

    def kind_counts(self) -> dict[str, int]:
        """Events per kind (a full scan: SQLite parses every body)."""
        return dict(self._con.execute("SELECT kind, count(*) FROM entries GROUP BY kind"))

    # -- reading ---------------------------------------------------------------------
    def _latest_head_row(self) -> tuple | None:
        return self._con.execute(
            "SELECT seq, tree_size, root_hash, timestamp_ms, signature, round FROM heads ORDER BY seq DESC LIMIT 1"
        ).fetchone()

    def _head(self, row: tuple) -> SignedTreeHead:
        return SignedTreeHead(
            log_id=self.log_id, tree_size=row[1], root_hash=row[2], timestamp_ms=row[3], signature=row[4]
        )

    def latest_head(self) -> SignedTreeHead | None:
        row = self._latest_head_row()
        return None if row is None else self._head(row)

    def heads(self) -> list[tuple[int, int | None, SignedTreeHead]]:
        """Every stored head as (seq, round, head), oldest first."""
        rows = self._con.execute(
            "SELECT seq, tree_size, root_hash, timestamp_ms, signature, round FROM heads ORDER BY seq"
        )
        return [(row[0], row[5], self._head(row)) for row in rows]

    def entries(
        self,
        *,
        kind: str | None = None,
        round_num: int | None = None,
        site: str | None = None,
        start: int = 0,
        stop: int | None = None,
    ) -> Iterator[Entry]:
        """Stored events in log order, filtered on the indexed columns."""
        where, args = ["idx >= ?"], [start]
        for column, value in (("kind", kind), ("round", round_num), ("site", site)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if stop is not None:
            where.append("idx < ?")
            args.append(stop)
        sql = f"SELECT idx, kind, round, site, body, leaf_hash FROM entries WHERE {' AND '.join(where)} ORDER BY idx"
        try:
            rows = self._con.execute(sql, args)
            yield from (Entry(*row) for row in rows)
        except sqlite3.OperationalError as exc:
            raise DataError(
                f"Ledger {str(self.path)!r} holds an entry that is not JSON ({exc}); it was altered. "
                "Run `fedshield audit verify` on it to find which."
            ) from None

    def entry(self, index: int) -> Entry:
        try:
            row = self._con.execute(
                "SELECT idx, kind, round, site, body, leaf_hash FROM entries WHERE idx = ?", (index,)
            ).fetchone()
        except sqlite3.OperationalError:
            row = self._con.execute(
                "SELECT idx, NULL, NULL, NULL, body, leaf_hash FROM entries WHERE idx = ?", (index,)
            ).fetchone()
        if row is None:
            raise ConfigError(f"Ledger {str(self.path)!r} has no entry {index}; it holds entries 0..{self.size - 1}.")
        return Entry(*row)

    @property
    def connection(self) -> sqlite3.Connection:
        """Raw read access for the verifier, which must not trust the cached frontier."""
        return self._con
