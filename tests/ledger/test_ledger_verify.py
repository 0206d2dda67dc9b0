"""Tamper corpus: every edit an attacker with write access can make is caught, first bad entry named.

The fixture ledger has 31 entries: entry 0 is run_config, then rounds 1..3 of
10 entries each (round_start, 3 participant, 3 update, aggregate, privacy,
round_end), with signed tree heads at sizes 11, 21 and 31.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ledger_testkit import build_ledger, tamper

from fedshield.errors import VerificationError
from fedshield.ledger import AuditSink, LedgerTamperError, verify_ledger
from fedshield.ledger import merkle
from fedshield.ledger.heads import sign_tree_head
from fedshield.ledger.records import make_record
from fedshield.ledger.store import LedgerStore

KINDS = ["run_config"] + ["round_start", *["participant"] * 3, *["update"] * 3, "aggregate", "privacy",
                          "round_end"] * 3


def bodies(path: Path) -> list[bytes]:
    con = sqlite3.connect(path)
    out = [b for (b,) in con.execute("SELECT body FROM entries ORDER BY idx")]
    con.close()
    return out


def flip_file_byte(path: Path, needle: bytes, offset: int, xor: int) -> None:
    """A hex-editor edit of the database file itself (no SQL, no triggers, no JSON checks)."""
    con = sqlite3.connect(path)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    data = bytearray(path.read_bytes())
    pos = data.find(needle)
    assert pos >= 0 and data.find(needle, pos + 1) == -1, "entry bytes must occur once in the file"
    data[pos + offset] ^= xor
    path.write_bytes(data)


def expect_tamper(path: Path, key, index: int | None, *, match: str = "") -> LedgerTamperError:
    with pytest.raises(LedgerTamperError, match=match) as info:
        verify_ledger(path, key.public_key())
    assert info.value.index == index, str(info.value)
    if index is not None and index < len(KINDS) and "Entry" in str(info.value):
        assert str(info.value).startswith(f"Entry {index}")
    return info.value


def rewrite_body(path: Path, index: int, new_body: bytes, *, fix_hash: bool, fix_nodes: bool = False) -> None:
    """Replace an entry; optionally recompute its stored hash and every stored node (a careful attacker)."""
    stmts: list = [("UPDATE entries SET body = ? WHERE idx = ?", (new_body, index))]
    if fix_hash:
        stmts.append(("UPDATE entries SET leaf_hash = ? WHERE idx = ?", (merkle.leaf_hash(new_body), index)))
    tamper(path, *stmts)
    if fix_nodes:
        rebuild_nodes(path)


def rebuild_nodes(path: Path) -> None:
    con = sqlite3.connect(path)
    leaves = [h for (h,) in con.execute("SELECT leaf_hash FROM entries ORDER BY idx")]
    con.close()
    cr, rows = merkle.CompactRange(), []
    for h in leaves:
        rows += cr.append(h)[1:]
    tamper(path, "DELETE FROM nodes", *[("INSERT INTO nodes VALUES (?, ?, ?)", r) for r in rows])


def test_pristine_ledger_verifies(ledger, key):
    report = verify_ledger(ledger, key.public_key(), strict=True)
    assert (report.entries, report.heads, report.signed_size, report.unsigned_entries) == (31, 3, 31, 0)
    assert report.key_pinned
    with LedgerStore.open(ledger, readonly=True) as s:
        assert report.root_hash == s.root().hex() == merkle.mth(bodies(ledger)).hex()
    json.dumps(report.to_dict())


_CORPUS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@_CORPUS
@given(data=st.data())
def test_any_byte_of_any_entry_changed_in_the_file(ledger, key, tmp_path_factory, data):
    copy = tmp_path_factory.mktemp("flip") / "l.sqlite"
    sqlite3.connect(ledger).execute(f"VACUUM INTO '{copy}'").connection.close()
    entries = bodies(copy)
    i = data.draw(st.integers(0, len(entries) - 1), label="entry")
    offset = data.draw(st.integers(0, len(entries[i]) - 1), label="byte")
    xor = data.draw(st.integers(1, 255), label="xor")
    flip_file_byte(copy, entries[i], offset, xor)
    expect_tamper(copy, key, i, match="stored leaf hash")


def expect_span(path: Path, key, i: int, window_start: int) -> LedgerTamperError:
    """The first altered entry lies in err.span, and nothing before the span is blamed."""
    with pytest.raises(LedgerTamperError) as info:
        verify_ledger(path, key.public_key())
    err = info.value
    assert err.index == err.span[0] and window_start <= err.index <= i < err.span[1], str(err)
    assert str(err).startswith(f"Entry {err.index} (")  # the kind of what is stored there now
    return err


@pytest.mark.parametrize(("i", "window_start"), [(0, 0), (5, 0), (11, 11), (16, 11), (30, 21)])
def test_entry_rewritten_with_its_stored_hash(ledger, key, i, window_start):
    """The signed root still catches it; the stored tree narrows it to the entry or its sibling."""
    body = bodies(ledger)[i].replace(b'"schema_version":1', b'"schema_version":1 ')
    rewrite_body(ledger, i, body, fix_hash=True)
    err = expect_span(ledger, key, i, window_start)
    if i == 11:  # its sibling, entry 10, is vouched for by head #1
        assert err.span == (11, 12) and "stored hash rewritten" in str(err)
    elif i == 30:  # on the right edge: the rewritten hash is part of the fold to the signed root
        assert err.span == (21, 31) and "cannot single it out" in str(err)
    else:  # the stored tree authenticates down to the pair holding it
        assert err.span == (i & ~1, (i & ~1) + 2) and "cannot single it out" in str(err)


def test_careful_attacker_who_rebuilds_every_stored_node_is_caught_at_the_signed_head(ledger, key):
    body = bodies(ledger)[15].replace(b'"norm":1.5', b'"norm":0.5')
    assert body != bodies(ledger)[15]
    rewrite_body(ledger, 15, body, fix_hash=True, fix_nodes=True)
    err = expect_span(ledger, key, 15, 11)  # round 2 = entries 11..20, under head #2
    assert err.span == (11, 21) and "tree head #2" in str(err)


def test_stored_leaf_hash_alone_changed(ledger, key):
    tamper(ledger, ("UPDATE entries SET leaf_hash = ? WHERE idx = 7", (b"\x00" * 32,)))
    expect_tamper(ledger, key, 7, match="stored leaf hash")


@pytest.mark.parametrize("i", [0, 14, 29])
def test_deleted_entry(ledger, key, i):
    tamper(ledger, f"DELETE FROM entries WHERE idx = {i}")
    expect_tamper(ledger, key, i, match="missing")


def test_truncated_entries(ledger, key):
    tamper(ledger, "DELETE FROM entries WHERE idx >= 25")
    expect_tamper(ledger, key, 25, match="truncated")


@pytest.mark.parametrize(("i", "j"), [(3, 4), (2, 17), (12, 30)])
def test_reordered_bodies(ledger, key, i, j):
    b = bodies(ledger)
    tamper(ledger, ("UPDATE entries SET body = ? WHERE idx = ?", (b[j], i)),
           ("UPDATE entries SET body = ? WHERE idx = ?", (b[i], j)))
    expect_tamper(ledger, key, i, match="stored leaf hash")


@pytest.mark.parametrize(("i", "j"), [(3, 4), (2, 17), (12, 30)])
def test_reordered_rows_with_their_hashes(ledger, key, i, j):
    b = bodies(ledger)
    tamper(
        ledger,
        ("UPDATE entries SET body = ?, leaf_hash = ? WHERE idx = ?", (b[j], merkle.leaf_hash(b[j]), i)),
        ("UPDATE entries SET body = ?, leaf_hash = ? WHERE idx = ?", (b[i], merkle.leaf_hash(b[i]), j)),
    )
    err = expect_span(ledger, key, i, 0 if i < 11 else 11)
    assert err.span[1] - err.span[0] <= 2


def test_renumbered_entries(ledger, key):
    tamper(ledger, "UPDATE entries SET idx = idx + 100 WHERE idx >= 20")
    expect_tamper(ledger, key, 20, match="missing")


def test_replaced_tree_head_root(ledger, key):
    tamper(ledger, ("UPDATE heads SET root_hash = ? WHERE seq = 2", (hashlib.sha256(b"x").digest(),)))
    with pytest.raises(LedgerTamperError, match=r"head #2 .*invalid signature"):
        verify_ledger(ledger, key.public_key())


def test_forged_signature(ledger, key):
    tamper(ledger, ("UPDATE heads SET signature = ? WHERE seq = 3", (bytes(64),)))
    with pytest.raises(LedgerTamperError, match=r"head #3 .*invalid signature"):
        verify_ledger(ledger, key.public_key())


def test_head_signed_by_another_key(ledger, key):
    with LedgerStore.open(ledger, readonly=True) as s:
        log_id, root = s.log_id, s.root()
    evil = sign_tree_head(Ed25519PrivateKey.generate(), log_id=log_id, tree_size=31, root_hash=root, timestamp_ms=1)
    tamper(ledger, ("UPDATE heads SET signature = ? WHERE seq = 3", (evil.signature,)))
    with pytest.raises(LedgerTamperError, match="invalid signature"):
        verify_ledger(ledger, key.public_key())


def test_swapped_heads(ledger, key):
    tamper(ledger, "UPDATE heads SET seq = -1 WHERE seq = 1", "UPDATE heads SET seq = 1 WHERE seq = 3",
           "UPDATE heads SET seq = 3 WHERE seq = -1")
    with pytest.raises(LedgerTamperError, match="goes back"):
        verify_ledger(ledger, key.public_key())


def test_changed_log_id_breaks_every_signature(ledger, key):
    tamper(ledger, ("UPDATE meta SET value = ? WHERE key = 'log_id'", ("00" * 32,)))
    with pytest.raises(LedgerTamperError, match="invalid signature"):
        verify_ledger(ledger, key.public_key())


def test_rekeyed_ledger_is_caught_only_with_a_pinned_key(ledger, key):
    """An attacker re-signs everything with their own key and stores it in the ledger."""
    evil = Ed25519PrivateKey.generate()
    with LedgerStore.open(ledger, readonly=True) as s:
        log_id, heads = s.log_id, s.heads()
    stmts: list = [("UPDATE meta SET value = ? WHERE key = 'public_key'", (evil.public_key().public_bytes_raw().hex(),))]
    for seq, _r, h in heads:
        forged = sign_tree_head(evil, log_id=log_id, tree_size=h.tree_size, root_hash=h.root_hash,
                                timestamp_ms=h.timestamp_ms)
        stmts.append(("UPDATE heads SET signature = ? WHERE seq = ?", (forged.signature, seq)))
    tamper(ledger, *stmts)
    with pytest.raises(VerificationError, match="re-keyed or you pinned the wrong key"):
        verify_ledger(ledger, key.public_key())
    assert verify_ledger(ledger).key_pinned is False  # integrity only: why auditors pin the key


def test_history_rewritten_and_resigned_by_the_coordinator(ledger, key):
    """A dishonest coordinator (holding the key) rewrites round 1 and signs a new head over it."""
    body = bodies(ledger)[3].replace(b'"status":"trained"', b'"status":"refused"')
    assert body != bodies(ledger)[3]
    rewrite_body(ledger, 3, body, fix_hash=True, fix_nodes=True)
    with LedgerStore.open(ledger) as s:
        s.sign_tree_head(key)
    err = expect_span(ledger, key, 3, 0)  # head #1 (size 11) still commits to the original round 1
    assert "tree head #1" in str(err)


def test_coordinator_signing_a_fork_after_the_fact(tmp_path, key):
    """Heads over two different histories in one file: the later head disagrees about the prefix."""
    path = build_ledger(tmp_path / "l.sqlite", key, rounds=1)
    with LedgerStore.open(path) as s:
        log_id, n = s.log_id, s.size
    forked = merkle.mth(bodies(path)[:-1] + [b"other"])
    evil = sign_tree_head(key, log_id=log_id, tree_size=n, root_hash=forked, timestamp_ms=1 << 42)
    tamper(path, ("INSERT INTO heads(tree_size, root_hash, timestamp_ms, signature) VALUES (?, ?, ?, ?)",
                  (n, forked, evil.timestamp_ms, evil.signature)))
    with pytest.raises(LedgerTamperError, match="two different histories"):
        verify_ledger(path, key.public_key())


def test_corrupt_stored_interior_node(ledger, key):
    tamper(ledger, ("UPDATE nodes SET hash = ? WHERE level = 4 AND idx = 0", (bytes(32),)))
    with pytest.raises(LedgerTamperError, match="stored Merkle nodes are corrupt"):
        verify_ledger(ledger, key.public_key())


def test_altered_derived_columns_are_caught(ledger, key):
    con = sqlite3.connect(ledger)
    con.execute("PRAGMA writable_schema = ON")
    con.execute("UPDATE sqlite_schema SET sql = replace(sql, '$.payload.site', '$.payload.status') "
                "WHERE name = 'entries'")
    con.commit()
    con.close()
    with pytest.raises(LedgerTamperError, match="definition was altered"):
        verify_ledger(ledger, key.public_key())


def test_unsigned_tail_is_reported_not_failed(ledger, key):
    with AuditSink.open(ledger, signing_key=key) as sink:
        sink.record("round_start", {"round": 4})
        sink.record("participant", {"round": 4, "site": "hospital-a", "status": "trained"})
    report = verify_ledger(ledger, key.public_key())
    assert (report.entries, report.signed_size, report.unsigned_entries) == (33, 31, 2)


def test_strict_mode_checks_record_schema(tmp_path, key):
    path = tmp_path / "l.sqlite"
    with LedgerStore.create(path, public_key=key.public_key()) as s:
        rec = make_record("round_end", {"round": 1})
        bad = type(rec)(kind="round_end", payload={}, ts_ms=None, body=b'{"kind":"round_end","payload":{}}')
        s.append_many([rec, bad])
        s.sign_tree_head(key)
    verify_ledger(path, key.public_key())  # hashes and signatures are fine: the coordinator wrote it
    with pytest.raises(LedgerTamperError, match="not a valid audit record") as info:
        verify_ledger(path, key.public_key(), strict=True)
    assert (info.value.index, info.value.kind) == (1, "round_end")


def test_empty_ledger(tmp_path, key):
    with LedgerStore.create(tmp_path / "e.sqlite", public_key=key.public_key()) as s:
        s.sign_tree_head(key)
    report = verify_ledger(tmp_path / "e.sqlite", key.public_key())
    assert (report.entries, report.heads, report.root_hash) == (0, 1, merkle.EMPTY_ROOT.hex())


@pytest.mark.parametrize("level", [0, 1, 2, 3, 4])
def test_chunked_scan_matches_heads_anywhere(tmp_path, key, monkeypatch, level):
    """Big ledgers are scanned in perfect chunks; shrink the chunk so small ledgers exercise that path."""
    import fedshield.ledger.verify as verify_mod

    monkeypatch.setattr(verify_mod, "_CHUNK_LEVEL", level)
    monkeypatch.setattr(verify_mod, "_CHUNK", 1 << level)
    path = tmp_path / "l.sqlite"
    recs = [make_record("participant", {"round": i, "site": "s", "status": "ok"}) for i in range(45)]
    with LedgerStore.create(path, public_key=key.public_key()) as s:
        s.sign_tree_head(key)  # size 0
        for size in (1, 2, 3, 8, 9, 16, 16, 31, 32, 45):
            s.sign_tree_head(key, records=recs[s.size:size])
    assert verify_ledger(path, key.public_key()).heads == 11
    body = recs[20].body.replace(b'"ok"', b'"OK"')
    rewrite_body(path, 20, body, fix_hash=True)
    with pytest.raises(LedgerTamperError) as info:
        verify_ledger(path, key.public_key())
    assert info.value.span[0] <= 20 < info.value.span[1] and info.value.index >= 16
    rewrite_body(path, 20, body, fix_hash=False)
    tamper(path, ("UPDATE entries SET leaf_hash = ? WHERE idx = 20", (merkle.leaf_hash(recs[20].body),)))
    expect_tamper(path, key, 20, match="stored leaf hash")
