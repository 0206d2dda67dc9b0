"""A site's witness accepts honest growth and catches forks, rollbacks and forgeries."""

from __future__ import annotations

import dataclasses
import json
import sqlite3

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from ledger_testkit import Clock, round_events

from fedshield.errors import DataError, VerificationError
from fedshield.ledger import AuditSink, TreeHeadWitness
from fedshield.ledger.heads import sign_tree_head
from fedshield.ledger.store import LedgerStore


def run_round(sink: AuditSink, rnd: int, *, site_prefix: str = "hospital"):
    for kind, payload in round_events(rnd, sites=(f"{site_prefix}-a", f"{site_prefix}-b")):
        sink.record(kind, payload)
    return sink.end_round(rnd)


def fork_of(tmp_path, honest: AuditSink, keep: int, key) -> AuditSink:
    """The coordinator's second history: same key and log id, same first `keep` entries, then different."""
    path = tmp_path / "fork.sqlite"
    store = LedgerStore.create(path, public_key=key.public_key(), log_id=honest.store.log_id)
    store.append_many(e.record for e in honest.store.entries(stop=keep))
    store.close()
    return AuditSink.open(path, signing_key=key, clock=Clock(1_800_000_000_000))


def test_honest_rounds_are_accepted_and_persisted(tmp_path, key):
    state = tmp_path / "site-a.witness.json"
    w = TreeHeadWitness(public_key=key.public_key(), state_path=state)
    with AuditSink.open(tmp_path / "l.sqlite", signing_key=key, clock=Clock()) as sink:
        for rnd in range(1, 5):
            head = run_round(sink, rnd)
            old = w.needs_proof_from
            w.observe(head, proof=[] if old is None else sink.consistency_proof(old))
            assert w.last == head
        # Same head again (no new round) is fine too.
        w.observe(head, proof=sink.consistency_proof(head.tree_size))
    reloaded = TreeHeadWitness(public_key=key.public_key(), state_path=state)
    assert reloaded.last == head and reloaded.log_id == head.log_id
    assert json.loads(state.read_text())["head"]["tree_size"] == head.tree_size


def test_fork_is_detected(tmp_path, key):
    w = TreeHeadWitness(public_key=key.public_key())
    honest = AuditSink.open(tmp_path / "l.sqlite", signing_key=key, clock=Clock())
    run_round(honest, 1)
    seen = run_round(honest, 2)
    w.observe(seen)
    forked = fork_of(tmp_path, honest, 5, key)  # rewrites round 1 from entry 5 on
    run_round(forked, 1, site_prefix="clinic")
    run_round(forked, 2, site_prefix="clinic")
    evil = run_round(forked, 3, site_prefix="clinic")
    assert evil.tree_size > seen.tree_size
    with pytest.raises(VerificationError, match=rf"Fork detected: .*size {evil.tree_size} .*size {seen.tree_size}"):
        w.observe(evil, proof=forked.consistency_proof(seen.tree_size))
    # Nor can the coordinator splice in a proof from the honest log.
    honest_proof = honest.store.consistency_proof(old_size=seen.tree_size, new_size=seen.tree_size)
    with pytest.raises(VerificationError, match="Fork detected"):
        w.observe(evil, proof=honest_proof)
    assert w.last == seen  # a rejected head is never remembered
    honest.close()
    forked.close()


def test_same_size_different_root_is_a_fork(tmp_path, key):
    w = TreeHeadWitness(public_key=key.public_key())
    with AuditSink.open(tmp_path / "l.sqlite", signing_key=key, clock=Clock()) as sink:
        seen = run_round(sink, 1)
    w.observe(seen)
    other = sign_tree_head(key, log_id=seen.log_id, tree_size=seen.tree_size, root_hash=bytes(32),
                           timestamp_ms=seen.timestamp_ms + 1)
    with pytest.raises(VerificationError, match="forked"):
        w.observe(other)


def test_rollback_replay_foreign_log_and_forgery(tmp_path, key):
    w = TreeHeadWitness(public_key=key.public_key())
    with AuditSink.open(tmp_path / "l.sqlite", signing_key=key, clock=Clock()) as sink:
        first = run_round(sink, 1)
        second = run_round(sink, 2)
    w.observe(first)
    with pytest.raises(VerificationError, match="empty"):
        w.observe(second, proof=[])  # growth needs a proof
    with AuditSink.open(tmp_path / "l.sqlite", signing_key=key) as sink:
        w.observe(second, proof=sink.consistency_proof(first.tree_size, new_size=second.tree_size))
    with pytest.raises(VerificationError, match="truncated or rolled back"):
        w.observe(first)
    stale = sign_tree_head(key, log_id=second.log_id, tree_size=second.tree_size, root_hash=second.root_hash,
                           timestamp_ms=second.timestamp_ms - 1000)
    with pytest.raises(VerificationError, match="replayed an old head"):
        w.observe(stale)
    foreign = sign_tree_head(key, log_id=bytes(32), tree_size=second.tree_size, root_hash=second.root_hash,
                             timestamp_ms=second.timestamp_ms)
    with pytest.raises(VerificationError, match="another federation"):
        w.observe(foreign)
    forged = dataclasses.replace(second, signature=bytes(64))
    with pytest.raises(VerificationError, match="invalid signature"):
        w.observe(forged)
    impostor = sign_tree_head(Ed25519PrivateKey.generate(), log_id=second.log_id, tree_size=second.tree_size,
                              root_hash=second.root_hash, timestamp_ms=second.timestamp_ms)
    with pytest.raises(VerificationError, match="invalid signature"):
        w.observe(impostor)


def test_truncating_ledger_and_heads_together_is_caught_by_the_witness(tmp_path, key):
    """verify_ledger alone cannot see a tail cut with its heads; a site's memory can."""
    path = tmp_path / "l.sqlite"
    w = TreeHeadWitness(public_key=key.public_key())
    with AuditSink.open(path, signing_key=key, clock=Clock()) as sink:
        w.observe(run_round(sink, 1))
        seen = run_round(sink, 2)
        w.observe(seen, proof=sink.consistency_proof(w.needs_proof_from))
    con = sqlite3.connect(path)
    for (name,) in con.execute("SELECT name FROM sqlite_schema WHERE type = 'trigger'").fetchall():
        con.execute(f"DROP TRIGGER {name}")
    con.execute("DELETE FROM heads WHERE seq = 2")
    con.execute("DELETE FROM entries WHERE idx >= ?", (seen.tree_size - 9,))
    con.commit()
    con.close()
    with LedgerStore.open(path, readonly=True) as s:
        latest = s.latest_head()
    with pytest.raises(VerificationError, match="rolled back"):
        w.observe(latest)


def test_state_file_pins_log_and_survives_restart(tmp_path, key):
    state = tmp_path / "w.json"
    with AuditSink.open(tmp_path / "l.sqlite", signing_key=key, clock=Clock()) as sink:
        head = run_round(sink, 1)
    TreeHeadWitness(public_key=key.public_key(), state_path=state).observe(head)
    with pytest.raises(VerificationError, match="one state file per federation"):
        TreeHeadWitness(public_key=key.public_key(), state_path=state, log_id=bytes(32))
    state.write_text("{not json")
    with pytest.raises(DataError, match="unreadable"):
        TreeHeadWitness(public_key=key.public_key(), state_path=state)
