"""``fedshield audit``: verify a ledger, prove one entry, list events.

Why ``--public-key``: an auditor who trusts nobody pins the coordinator key
obtained out of band; without it the key stored in the ledger is used and the
result proves integrity, not authorship (a warning says so).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import datetime, timezone

from fedshield.errors import ConfigError, VerificationError
from fedshield.ledger.keys import key_fingerprint, load_public_key
from fedshield.ledger.merkle import leaf_hash, verify_inclusion
from fedshield.ledger.records import KINDS
from fedshield.ledger.store import LedgerStore
from fedshield.ledger.verify import verify_ledger

__all__ = ["register", "main"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("audit", help="verify and inspect a tamper-evident audit ledger")
    asub = p.add_subparsers(dest="audit_command", metavar="SUBCOMMAND", required=True)

    v = asub.add_parser("verify", help="recompute every hash and check every signed tree head")
    v.add_argument("ledger", help="ledger file (SQLite)")
    v.add_argument("--public-key", help="coordinator public key PEM obtained out of band (recommended)")
    v.add_argument("--strict", action="store_true", help="also re-validate every record's schema (slower)")
    v.add_argument("--json", action="store_true", help="print the report as JSON")
    v.set_defaults(handler=run_verify)

    pr = asub.add_parser("prove", help="print an entry's inclusion proof and verify it against the latest head")
    pr.add_argument("ledger", help="ledger file (SQLite)")
    pr.add_argument("--entry", type=int, required=True, help="entry index (leaf index, from 0)")
    pr.add_argument("--public-key", help="coordinator public key PEM obtained out of band (recommended)")
    pr.set_defaults(handler=run_prove)

    s = asub.add_parser("show", help="list events (does not verify; run `audit verify` for that)")
    s.add_argument("ledger", help="ledger file (SQLite)")
    s.add_argument("--round", type=int, dest="round_num", help="only this round")
    s.add_argument("--site", help="only this site")
    s.add_argument("--kind", help="only this event kind")
    s.add_argument("--json", action="store_true", help="one JSON object per line")
    s.set_defaults(handler=run_show)


def _key(args: argparse.Namespace, store: LedgerStore):
    if args.public_key:
        return load_public_key(args.public_key)
    print(
        f"warning: no --public-key given; trusting the key stored in the ledger "
        f"(fingerprint {key_fingerprint(store.public_key)}). This proves integrity, not who signed it.",
        file=sys.stderr,
    )
    return store.public_key


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat(timespec="seconds")


def run_verify(args: argparse.Namespace) -> int:
    with LedgerStore.open(args.ledger, readonly=True) as store:
        key = _key(args, store)  # warns when the key is not pinned
    # Unpinned: let verify_ledger use the embedded key itself, so the report says key_pinned=False.
    report = verify_ledger(args.ledger, key if args.public_key else None, strict=args.strict)
    if args.json:
        print(json.dumps(report.to_dict(), sort_keys=True))
    else:
        print(f"OK: {report.entries} entries, {report.heads} signed tree heads, log {report.log_id[:16]}…")
        if report.latest_head is not None:
            h = report.latest_head
            print(f"latest signed head: size {h.tree_size}, root {h.root_hash.hex()}, at {_iso(h.timestamp_ms)}")
        print(f"signed by key {report.key_fingerprint}" + ("" if report.key_pinned else " (not pinned)"))
    if report.unsigned_entries:
        print(
            f"warning: the last {report.unsigned_entries} entries are not covered by any signed tree head "
            "(a round was interrupted); they are unauthenticated.",
            file=sys.stderr,
        )
    return 0


def run_prove(args: argparse.Namespace) -> int:
    with LedgerStore.open(args.ledger, readonly=True) as store:
        key = _key(args, store)
        head = store.latest_head()
        if head is None:
            raise VerificationError(f"Ledger {args.ledger!r} has no signed tree head yet; nothing to prove against.")
        head.verify(key)
        if not 0 <= args.entry < head.tree_size:
            raise ConfigError(
                f"--entry must be in [0, {head.tree_size}): the latest signed tree head covers "
                f"{head.tree_size} entries. Later entries are proven once their round ends."
            )
        entry = store.entry(args.entry)
        proof = store.inclusion_proof(leaf_index=args.entry, tree_size=head.tree_size)
    leaf = leaf_hash(entry.body)  # from the bytes, never the stored hash
    verify_inclusion(leaf_index=args.entry, tree_size=head.tree_size, leaf=leaf, proof=proof, root=head.root_hash)
    print(json.dumps({
        "leaf_index": args.entry,
        "tree_size": head.tree_size,
        "entry": entry.body.decode("utf-8", "replace"),
        "leaf_hash": leaf.hex(),
        "proof": [p.hex() for p in proof],
        "tree_head": head.to_dict(),
        "verified": True,
    }, sort_keys=True))
    return 0


def run_show(args: argparse.Namespace) -> int:
    if args.kind is not None and args.kind not in KINDS:
        raise ConfigError(f"--kind must be one of {', '.join(sorted(KINDS))}; got {args.kind!r}.")
    with LedgerStore.open(args.ledger, readonly=True) as store:
        rows = 0
        for e in store.entries(kind=args.kind, round_num=args.round_num, site=args.site):
            rec = e.record
            payload = {k: v for k, v in rec.payload.items() if k not in ("round", "site")}
            if args.json:
                print(json.dumps({"index": e.index, "kind": e.kind, "round": e.round, "site": e.site,
                                  "ts_ms": rec.ts_ms, "payload": dict(rec.payload)}, sort_keys=True))
            else:
                if rows == 0:
                    print(f"{'index':>7}  {'round':>5}  {'site':<16}  {'kind':<13}  details")
                details = json.dumps(payload, sort_keys=True, separators=(",", ":"))
                details = details if len(details) <= 100 else details[:99] + "…"
                rnd = "" if e.round is None else e.round
                print(f"{e.index:>7}  {rnd:>5}  {e.site or '':<16}  {e.kind:<13}  {details}")
            rows += 1
        head = store.latest_head()
    if not args.json:
        print(f"({rows} entries shown)")
        if head is not None:
            print(f"latest signed head: size {head.tree_size}, root {head.root_hash.hex()}, at "
                  f"{_iso(head.timestamp_ms)} (unverified: run `fedshield audit verify`)")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Standalone ``python -m fedshield.cli.audit SUBCOMMAND ...`` (same exit codes as ``fedshield``)."""
    from fedshield.cli.main import main as fedshield_main

    return fedshield_main(["audit", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
