"""A writer killed mid-batch leaves the log at its last complete entry."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fedshield.ledger import AuditSink, LedgerStore, verify_ledger
from fedshield.ledger.merkle import mth

WRITER = textwrap.dedent(
    """
    import sys, time
    from cryptography.hazmat.primitives import serialization
    from fedshield.ledger import AuditSink
    from fedshield.ledger.records import make_record

    key = serialization.load_pem_private_key(open(sys.argv[2], "rb").read(), password=None)
    sink = AuditSink.open(sys.argv[1], signing_key=key)
    for r in range(1, 3):  # two complete, signed rounds
        for site in ("a", "b", "c"):
            sink.record("participant", {"round": r, "site": site, "status": "trained"})
        sink.end_round(r)

    def batch():
        for i in range(5000):
            if i == 2500:  # rows are inserted but the transaction is still open
                print("MID-BATCH", flush=True)
                time.sleep(60)
            yield make_record("participant", {"round": 3, "site": f"s{i}", "status": "trained"})

    sink.store.append_many(batch())
    print("COMMITTED", flush=True)
    """
)


def test_sigkill_mid_transaction(tmp_path):
    key = Ed25519PrivateKey.generate()
    key_path = tmp_path / "k.pem"
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    path = tmp_path / "l.sqlite"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(key_path)],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "MID-BATCH"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    report = verify_ledger(path, key.public_key())
    assert (report.entries, report.signed_size, report.unsigned_entries) == (8, 8, 0)
    with LedgerStore.open(path) as s:
        assert s.size == 8 and s.root() == mth(e.body for e in s.entries())
    with AuditSink.open(path, signing_key=key) as sink:  # the coordinator restarts and carries on
        sink.record("round_start", {"round": 3})
        assert sink.end_round(3).tree_size == 10
    assert verify_ledger(path, key.public_key()).heads == 3
