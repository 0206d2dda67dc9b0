"""AuditSink (the engine's API) and coordinator key files."""

from __future__ import annotations

import os
import stat

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from ledger_testkit import Clock, round_events, tamper

from fedshield.errors import ConfigError, DataError, SecurityError, VerificationError
from fedshield.ledger import (
    AuditSink,
    generate_signing_key,
    key_fingerprint,
    load_public_key,
    load_signing_key,
    verify_inclusion,
    verify_ledger,
)
from fedshield.ledger.merkle import leaf_hash


def test_engine_flow_records_rounds_and_signs_heads(tmp_path, key):
    path = tmp_path / "fed.sqlite"
    with AuditSink.open(path, signing_key=key, clock=Clock()) as sink:
        assert sink.record("run_config", {"run_id": "r"}) == 0
        indices = [sink.record(k, p) for k, p in round_events(1)]
        assert indices == list(range(1, 10))
        assert sink.store.size == 1  # buffered until the round ends: one transaction per round
        head = sink.end_round(1)
        assert head.tree_size == 11 == sink.store.size  # + the round_end record end_round adds
        head.verify(sink.public_key)
        assert sink.store.entry(10).payload == {"round": 1}
        proof = sink.inclusion_proof(4)
        verify_inclusion(leaf_index=4, tree_size=11, leaf=leaf_hash(sink.store.entry(4).body), proof=proof,
                         root=head.root_hash)
    with AuditSink.open(path, signing_key=key) as sink:  # reopen and continue
        assert sink.record("round_start", {"round": 2}) == 11
        assert sink.end_round(2).tree_size == 13
    assert verify_ledger(path, key.public_key()).heads == 2


def test_invalid_events_fail_at_the_call_and_leave_no_trace(tmp_path, key):
    with AuditSink.open(tmp_path / "l.sqlite", signing_key=key) as sink:
        with pytest.raises(DataError, match="never weights"):
            sink.record("update", {"round": 1, "site": "a", "weights": [0.1]})
        with pytest.raises(DataError, match="kind"):
            sink.record("gossip", {})
        assert sink.size == 0
        with pytest.raises(ConfigError, match="round_num"):
            sink.end_round(-1)


def test_irreversible_events_are_durable_before_the_act(tmp_path, key):
    with AuditSink.open(tmp_path / "l.sqlite", signing_key=key) as sink:
        sink.record("round_start", {"round": 1})
        sink.record("model_release", {"round": 1, "model_sha256": "ab" * 32})
        assert sink.store.size == 2


def test_close_flushes_and_closed_sink_refuses(tmp_path, key):
    path = tmp_path / "l.sqlite"
    sink = AuditSink.open(path, signing_key=key)
    sink.record("round_start", {"round": 1})
    sink.close()
    sink.close()  # idempotent
    with pytest.raises(ConfigError, match="closed"):
        sink.record("round_start", {"round": 2})
    assert verify_ledger(path, key.public_key()).unsigned_entries == 1


def test_open_refuses_wrong_key_missing_file_and_tampered_ledger(tmp_path, key):
    path = tmp_path / "l.sqlite"
    with AuditSink.open(path, signing_key=key) as sink:
        sink.record("round_start", {"round": 1})
        sink.end_round(1)
    with pytest.raises(SecurityError, match="bound to coordinator key"):
        AuditSink.open(path, signing_key=Ed25519PrivateKey.generate())
    with pytest.raises(ConfigError, match="create=True"):
        AuditSink.open(tmp_path / "none.sqlite", signing_key=key, create=False)
    tamper(path, ("UPDATE nodes SET hash = ? WHERE level = 1 AND idx = 0", (bytes(32),)))
    with pytest.raises(VerificationError, match="refusing to append"):
        AuditSink.open(path, signing_key=key)


def test_key_files(tmp_path):
    path = tmp_path / "coordinator.key"
    key = generate_signing_key(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert key_fingerprint(load_signing_key(path)) == key_fingerprint(key)
    assert key_fingerprint(load_public_key(f"{path}.pub")) == key_fingerprint(key)
    with pytest.raises(ConfigError, match="already exists"):
        generate_signing_key(path)
    os.chmod(path, 0o644)
    with pytest.raises(SecurityError, match="chmod 600"):
        load_signing_key(path)
    with pytest.raises(ConfigError, match="does not exist"):
        load_signing_key(tmp_path / "nope.key")
    with AuditSink.open(tmp_path / "l.sqlite", signing_key=generate_signing_key(tmp_path / "k2")) as sink:
        assert sink.end_round(0).tree_size == 1
    os.chmod(path, 0o600)
    with AuditSink.open(tmp_path / "l2.sqlite", signing_key=path) as sink:  # a key path works too
        assert key_fingerprint(sink.public_key) == key_fingerprint(key)
