"""Audit ledger benchmark: durable append rate, proof size/time, full verification.

    .venv/bin/python benchmarks/ledger.py                 # 1,000,000 entries
    .venv/bin/python benchmarks/ledger.py --entries 20000 # quick

Appends go through ``AuditSink`` exactly as the round engine uses it
(validate, canonicalise, one WAL transaction with synchronous=FULL per round,
Ed25519-signed tree head per round). A round of S sites writes 3*S + 4
records; the headline is S = 100 (batch 304). Small rounds are bounded by the
disk's fsync latency, which is printed for context. The big ledger is built with the bulk
path (``LedgerStore.append_many`` with large batches of pre-encoded records),
then proven against and verified from scratch. The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fedshield.ledger import AuditSink, LedgerStore, verify_ledger
from fedshield.ledger.merkle import verify_consistency, verify_inclusion
from fedshield.ledger.records import SCHEMA_VERSION, Record, canonical_json

SITES = [f"hospital-{i:03d}" for i in range(100)]


def _digest(i: int) -> str:
    return f"{i:064x}"


def round_events(r: int, n_sites: int) -> list[tuple[str, dict]]:
    """One realistic round (AuditSink.end_round adds the round_end record)."""
    sites = SITES[:n_sites]
    ev: list[tuple[str, dict]] = [("round_start", {"round": r, "model_sha256": _digest(r), "participants": sites})]
    for i, s in enumerate(sites):
        ev.append(("participant", {"round": r, "site": s, "status": "responded"}))
        ev.append(("update", {"round": r, "site": s, "update_sha256": _digest(r * 1000 + i), "norm": 1.25 + i,
                              "verdict": "accepted"}))
        ev.append(("screening", {"round": r, "site": s, "method": "krum", "verdict": "accepted", "score": 0.5}))
    ev.append(("aggregate", {"round": r, "sites": sites, "aggregate_sha256": _digest(r + 1), "model_sha256": _digest(r)}))
    ev.append(("privacy", {"round": r, "epsilon": 0.1 * r, "delta": 1e-5}))
    return ev


def bench_appends(tmp: Path, key: Ed25519PrivateKey, *, n_sites: int, total: int) -> tuple[float, int, float]:
    """Durable appends/s through AuditSink, one transaction + signed head per round."""
    with AuditSink.open(tmp / f"append-{n_sites}.sqlite", signing_key=key) as sink:
        events = round_events(0, n_sites)
        rounds = max(1, total // len(events))
        t0, c0 = time.perf_counter(), time.process_time()
        for r in range(rounds):
            for kind, payload in events:
                sink.record(kind, payload)
            sink.end_round(r)
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        batch = len(events) + 1  # + the round_end record end_round writes
        return rounds * batch / dt, batch, 1e6 * cpu / (rounds * batch)


def bulk_records(n: int, round_size: int):
    """Pre-encoded canonical records (skips per-record validation: a builder, not the engine path)."""
    per_round = round_events(0, 100) + [("round_end", {"round": 0})]
    r = 0
    made = 0
    while made < n:
        for kind, payload in per_round:
            if made >= n:
                return
            p = dict(payload, round=r) if "round" in payload else payload
            body = canonical_json({"kind": kind, "payload": p, "schema_version": SCHEMA_VERSION, "ts_ms": made})
            yield Record(kind=kind, payload=p, ts_ms=made, body=body)
            made += 1
            if made % round_size == 0:
                r += 1


def build(path: Path, key: Ed25519PrivateKey, *, n: int, round_size: int) -> float:
    """Bulk path: one transaction per `round_size` entries, each sealed by a signed head."""
    t0 = time.perf_counter()
    gen = bulk_records(n, round_size)
    with LedgerStore.create(path, public_key=key.public_key()) as store:
        while store.size < n:
            chunk = [rec for _, rec in zip(range(min(round_size, n - store.size)), gen)]
            store.sign_tree_head(key, records=chunk)
    return time.perf_counter() - t0


def fsync_latency_ms(tmp: Path, *, samples: int = 20) -> float:
    """What one durable commit costs on this disk: the floor under small-batch append rates."""
    times = []
    with open(tmp / "fsync.probe", "wb") as fh:
        for _ in range(samples):
            fh.write(os.urandom(4096))
            t0 = time.perf_counter()
            fh.flush()
            os.fsync(fh.fileno())
            times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def bench_proofs(path: Path, *, samples: int) -> dict[str, float]:
    rng = random.Random(7)
    with LedgerStore.open(path, readonly=True) as store:
        head = store.latest_head()
        assert head is not None
        n = head.tree_size
        gen_t, ver_t, sizes = [], [], []
        for _ in range(samples):
            i = rng.randrange(n)
            t0 = time.perf_counter()
            proof = store.inclusion_proof(leaf_index=i, tree_size=n)
            leaf = store.get_node(0, i)
            t1 = time.perf_counter()
            verify_inclusion(leaf_index=i, tree_size=n, leaf=leaf, proof=proof, root=head.root_hash)
            t2 = time.perf_counter()
            gen_t.append(t1 - t0)
            ver_t.append(t2 - t1)
            sizes.append(32 * len(proof))
        c_gen, c_sizes = [], []
        for _ in range(max(1, samples // 10)):
            m = rng.randrange(1, n)
            t0 = time.perf_counter()
            proof = store.consistency_proof(old_size=m, new_size=n)
            old_root = store.root(m)
            c_gen.append(time.perf_counter() - t0)
            verify_consistency(old_size=m, new_size=n, old_root=old_root, new_root=head.root_hash, proof=proof)
            c_sizes.append(32 * len(proof))
    return {
        "incl_bytes_max": max(sizes),
        "incl_bytes_mean": statistics.mean(sizes),
        "incl_gen_us": 1e6 * statistics.median(gen_t),
        "incl_verify_us": 1e6 * statistics.median(ver_t),
        "cons_bytes_max": max(c_sizes),
        "cons_gen_us": 1e6 * statistics.median(c_gen),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entries", type=int, default=1_000_000, help="size of the ledger to prove and verify")
    ap.add_argument("--append-total", type=int, default=30_000, help="records for the append-rate test")
    ap.add_argument("--round-size", type=int, default=1000, help="entries per signed head in the big ledger")
    ap.add_argument("--samples", type=int, default=1000, help="random proofs to time")
    ap.add_argument("--dir", default=None, help="scratch directory (default: a fresh temp dir)")
    args = ap.parse_args(argv)

    key = Ed25519PrivateKey.generate()
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="fedshield-ledger-bench-") as d:
        tmp = Path(d)
        rows = [("fsync latency on this disk (median)", f"{fsync_latency_ms(tmp):.2f} ms")]
        for n_sites in (1, 10, 100):
            rate, batch, cpu_us = bench_appends(tmp, key, n_sites=n_sites, total=args.append_total)
            rows.append((f"append, {n_sites} sites/round (batch {batch})",
                         f"{rate:,.0f} appends/s ({cpu_us:.0f} us CPU/record)"))
            if n_sites == 100:  # headline: a 100-site round = one transaction + signed head per 304 records
                headline_rate, headline_batch = rate, batch

        big = tmp / "big.sqlite"
        t_build = build(big, key, n=args.entries, round_size=args.round_size)
        size_mb = sum(p.stat().st_size for p in tmp.glob("big.sqlite*")) / 2**20
        rows.append((f"bulk build {args.entries:,} entries", f"{t_build:.1f} s ({size_mb:.0f} MiB)"))

        pr = bench_proofs(big, samples=args.samples)
        rows.append((f"inclusion proof @ {args.entries:,}", f"{pr['incl_bytes_max']} B max, "
                     f"gen {pr['incl_gen_us']:.0f} us, verify {pr['incl_verify_us']:.0f} us (median)"))
        rows.append((f"consistency proof @ {args.entries:,}", f"{pr['cons_bytes_max']} B max, "
                     f"gen {pr['cons_gen_us']:.0f} us (median)"))

        t0, c0 = time.perf_counter(), time.process_time()
        report = verify_ledger(big, key.public_key())
        t_verify, c_verify = time.perf_counter() - t0, time.process_time() - c0
        assert report.entries == args.entries
        rows.append((f"verify_ledger {args.entries:,} entries, {report.heads} heads",
                     f"{t_verify:.2f} s wall ({c_verify:.2f} s CPU)"))

    width = max(len(a) for a, _ in rows)
    print(f"{'measurement':<{width}}  result\n{'-' * width}  {'-' * 40}")
    for a, b in rows:
        print(f"{a:<{width}}  {b}")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"(durability: WAL + synchronous=FULL; headline append rate at batch {headline_batch}; "
          f"cpus={os.cpu_count()}, load average {load:.1f})")
    print(json.dumps({
        "appends_per_s": round(headline_rate),
        "append_batch": headline_batch,
        "entries": args.entries,
        "verify_1m_seconds" if args.entries == 1_000_000 else "verify_seconds": round(t_verify, 3),
        "proof_bytes_1m" if args.entries == 1_000_000 else "proof_bytes": pr["incl_bytes_max"],
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
