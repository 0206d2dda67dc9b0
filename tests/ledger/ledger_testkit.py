"""Helpers for the ledger tests: engine-shaped events, a fake clock, ledgers, an attacker."""

from __future__ import annotations

import hashlib
import itertools
import sqlite3
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fedshield.ledger import AuditSink

SITES = ("hospital-a", "hospital-b", "hospital-c")


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def round_events(rnd: int, sites=SITES) -> list[tuple[str, dict]]:
    """The payloads the round engine emits (see fedshield.server.engine)."""
    ev: list[tuple[str, dict]] = [("round_start", {"round": rnd, "model_sha256": digest(f"model{rnd - 1}")})]
    for s in sites:
        ev.append(("participant", {"round": rnd, "site": s, "status": "trained"}))
    for s in sites:
        ev.append(("update", {
            "round": rnd, "site": s, "update_sha256": digest(f"{rnd}{s}"), "norm": 1.5, "num_examples": 40,
            "verdict": {"site_id": s, "decision": "accepted", "reason": "", "scores": {"krum": 0.25}},
        }))
    ev.append(("aggregate", {"round": rnd, "sites": list(sites), "aggregate_sha256": digest(f"agg{rnd}"),
                             "model_sha256": digest(f"model{rnd}")}))
    ev.append(("privacy", {"round": rnd, "epsilon": 0.5 * rnd, "delta": 1e-5}))
    return ev


class Clock:
    """Deterministic, strictly increasing milliseconds."""

    def __init__(self, start: int = 1_700_000_000_000) -> None:
        self._it = itertools.count(start, 7)

    def __call__(self) -> int:
        return next(self._it)


def build_ledger(path: Path, key: Ed25519PrivateKey, *, rounds: int = 3, sites=SITES) -> Path:
    """run_config + `rounds` engine-shaped rounds, each closed by a signed tree head."""
    with AuditSink.open(path, signing_key=key, clock=Clock()) as sink:
        sink.record("run_config", {"run_id": "run-1", "config_sha256": digest("cfg")})
        for rnd in range(1, rounds + 1):
            for kind, payload in round_events(rnd, sites):
                sink.record(kind, payload)
            sink.end_round(rnd)
    return path


def tamper(path: Path, *statements: tuple[str, tuple] | str) -> None:
    """Edit the file the way an attacker with write access would: drop the guard triggers first."""
    con = sqlite3.connect(path, isolation_level=None)
    for (name,) in con.execute("SELECT name FROM sqlite_schema WHERE type = 'trigger'").fetchall():
        con.execute(f"DROP TRIGGER {name}")
    for st in statements:
        sql, args = (st, ()) if isinstance(st, str) else st
        con.execute(sql, args)
    con.close()
