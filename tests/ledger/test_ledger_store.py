"""SQLite store: durability settings, stored nodes, proofs from storage, rollback."""

from __future__ import annotations

import sqlite3

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from ledger_testkit import Clock, round_events

from fedshield.errors import ConfigError, DataError, SecurityError
from fedshield.ledger import merkle
from fedshield.ledger.records import make_record
from fedshield.ledger.store import LedgerStore


def records(n: int, start: int = 0):
    return [make_record("round_end", {"round": i}, ts_ms=i) for i in range(start, start + n)]


@pytest.fixture
def store(tmp_path, key):
    with LedgerStore.create(tmp_path / "l.sqlite", public_key=key.public_key()) as s:
        yield s


def test_durable_wal_settings(store):
    con = store.connection
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert con.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_append_roots_and_stored_nodes_match_rfc(store):
    recs = records(37)
    assert store.root() == merkle.EMPTY_ROOT
    assert store.append_many(recs[:10]) == range(0, 10)
    assert store.append(recs[10]) == 10
    store.append_many(recs[11:])
    bodies = [r.body for r in recs]
    assert store.size == 37 and store.root() == merkle.mth(bodies)
    for n in range(0, 38):
        assert store.root(n) == merkle.mth(bodies[:n])
    # Every perfect subtree is stored once; nothing else.
    (count,) = store.connection.execute("SELECT count(*) FROM nodes").fetchone()
    assert count == sum(37 >> lvl for lvl in range(1, 6))


def test_proofs_from_storage_verify(store):
    recs = records(50)
    store.append_many(recs)
    for n in (1, 7, 32, 50):
        root = store.root(n)
        for m in range(n):
            proof = store.inclusion_proof(leaf_index=m, tree_size=n)
            merkle.verify_inclusion(
                leaf_index=m, tree_size=n, leaf=merkle.leaf_hash(recs[m].body), proof=proof, root=root
            )
        for m in range(n + 1):
            proof = store.consistency_proof(old_size=m, new_size=n)
            merkle.verify_consistency(old_size=m, new_size=n, old_root=store.root(m), new_root=root, proof=proof)
    with pytest.raises(ConfigError, match=r"\[0, 50\]"):
        store.inclusion_proof(leaf_index=0, tree_size=51)


def test_reopen_restores_frontier(tmp_path, key):
    path = tmp_path / "l.sqlite"
    with LedgerStore.create(path, public_key=key.public_key()) as s:
        s.append_many(records(21))
        root, log_id = s.root(), s.log_id
    with LedgerStore.open(path) as s:
        assert (s.size, s.root(), s.log_id) == (21, root, log_id)
        s.append_many(records(5, 21))
        assert s.root() == merkle.mth([r.body for r in records(26)])


def test_exception_inside_the_transaction_rolls_back(store):
    store.append_many(records(5))
    before = store.root()

    def exploding():
        yield from records(3, 5)
        raise RuntimeError("writer crashed mid-batch")

    with pytest.raises(RuntimeError):
        store.append_many(exploding())
    assert store.size == 5 and store.root() == before
    (count,) = store.connection.execute("SELECT count(*) FROM entries").fetchone()
    assert count == 5
    store.append_many(records(3, 5))  # the log continues from the last complete entry
    assert store.root() == merkle.mth([r.body for r in records(8)])


def test_a_second_writer_is_noticed(tmp_path, key):
    path = tmp_path / "l.sqlite"
    a = LedgerStore.create(path, public_key=key.public_key())
    b = LedgerStore.open(path)
    a.append_many(records(3))
    b.append_many(records(2, 3))  # b's cached frontier is stale; it must resync inside the transaction
    a.append_many(records(4, 5))
    assert a.root() == b.root(9) == merkle.mth([r.body for r in records(9)])
    a.close()
    b.close()


def test_append_only_guard_triggers(store):
    store.append_many(records(2))
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        store.connection.execute("UPDATE entries SET body = CAST('{}' AS BLOB) WHERE idx = 0")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        store.connection.execute("DELETE FROM entries")


def test_signed_heads(store, key):
    store.append_many(records(4))
    h1 = store.sign_tree_head(key, timestamp_ms=2000, round_num=1)
    h1.verify(key.public_key())
    assert (h1.tree_size, h1.root_hash, h1.log_id) == (4, store.root(), store.log_id)
    store.append_many(records(3, 4))
    h2 = store.sign_tree_head(key, timestamp_ms=1000)  # clock went backwards: time is clamped
    assert h2.timestamp_ms == 2000 and h2.tree_size == 7
    assert [(r, h) for _s, r, h in store.heads()] == [(1, h1), (None, h2)]
    assert store.latest_head() == h2
    with pytest.raises(SecurityError, match="not the key"):
        store.sign_tree_head(Ed25519PrivateKey.generate())


def test_a_round_and_its_head_commit_together_or_not_at_all(store, key):
    def exploding():
        yield from records(3)
        raise RuntimeError("crash before the head was signed")

    with pytest.raises(RuntimeError):
        store.sign_tree_head(key, records=exploding())
    assert store.size == 0 and store.latest_head() is None
    head = store.sign_tree_head(key, records=records(3), round_num=1)
    assert head.tree_size == 3 == store.size and store.heads()[0][1] == 1


def test_entries_are_filtered_by_derived_columns(store):
    store.append_many(make_record(k, p, ts_ms=1) for k, p in round_events(1) + round_events(2))
    ups = list(store.entries(kind="update", round_num=2))
    assert [e.site for e in ups] == ["hospital-a", "hospital-b", "hospital-c"]
    assert all(e.payload["round"] == 2 and e.record.kind == "update" for e in ups)
    assert [e.index for e in store.entries(site="hospital-b")] == [2, 5, 11, 14]
    assert store.entry(3).kind == "participant"
    assert store.kind_counts() == {"round_start": 2, "participant": 6, "update": 6, "aggregate": 2, "privacy": 2}
    with pytest.raises(ConfigError, match="no entry 99"):
        store.entry(99)


def test_open_and_create_errors(tmp_path, key):
    with pytest.raises(DataError, match="does not exist"):
        LedgerStore.open(tmp_path / "missing.sqlite")
    path = tmp_path / "l.sqlite"
    LedgerStore.create(path, public_key=key.public_key()).close()
    with pytest.raises(ConfigError, match="already exists"):
        LedgerStore.create(path, public_key=key.public_key())
    other = tmp_path / "other.sqlite"
    sqlite3.connect(other).execute("CREATE TABLE t(x)").connection.close()
    with pytest.raises(DataError, match="not a FedShield ledger"):
        LedgerStore.open(other)


def test_clock_helper_is_monotonic():
    c = Clock()
    assert c() < c()
