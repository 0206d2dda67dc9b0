"""The per-run transparency report: what happened, checkable against the ledger.

The report embeds the ledger's latest signed tree head. A reader who holds the
coordinator's public key can run ``fedshield audit verify`` and confirm that
the report's figures come from a log that was not rewritten. A ledger that does
not verify stops the report (fail closed): a report vouching for a tampered
log would be worse than none.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fedshield.errors import DataError
from fedshield.reports.controls import active_controls

from fedshield.reports.audit import LEDGER_FILE, PUBLIC_KEY_FILE


def _load_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise DataError(f"{str(path)!r} is missing: pass the directory written by `fedshield simulate --out DIR`.")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"{str(path)!r} is not valid JSON ({exc}); re-run the simulation to regenerate it.") from None


def ledger_summary(run_dir: Path) -> dict[str, Any] | None:
    """Verify the run's ledger (raises on tampering) and return its signed root."""
    path = run_dir / LEDGER_FILE
    if not path.exists():
        return None
    from fedshield.ledger import LedgerStore, verify_ledger

    pub = run_dir / PUBLIC_KEY_FILE
    report = verify_ledger(path, pub.read_bytes() if pub.exists() else None)
    head = report.latest_head
    with LedgerStore.open(path, readonly=True) as store:
        counts = store.kind_counts()
    return {
        "path": LEDGER_FILE,
        "entries": report.entries,
        "entries_by_kind": counts,
        "key_fingerprint": report.key_fingerprint,
        "key_pinned": report.key_pinned,
        "signed_tree_head": None if head is None else {
            "tree_size": head.tree_size,
            "root_hash": head.root_hash.hex(),
            "timestamp_ms": head.timestamp_ms,
            "signature": head.signature.hex(),
        },
        "verify_command": f"fedshield audit verify {LEDGER_FILE} --public-key {PUBLIC_KEY_FILE}",
    }


def build_transparency(run_dir: str | Path) -> dict[str, Any]:
    run_dir = Path(run_dir)
    config = _load_json(run_dir / "config.json")
    metrics = _load_json(run_dir / "metrics.json")
    ledger = ledger_summary(run_dir)
    deployment = metrics.get("deployment")
    anomalies = []
    for r in metrics.get("rounds", []):
        for v in r.get("verdicts", []):
            if v.get("decision") != "accepted":
                anomalies.append({"round": r["round_num"], "site": v["site_id"], "decision": v["decision"], "reason": v.get("reason", "")})
        for site, why in (r.get("failures") or {}).items():
            anomalies.append({"round": r["round_num"], "site": site, "decision": "failed", "reason": why})
        for site, why in (r.get("refused") or {}).items():
            anomalies.append({"round": r["round_num"], "site": site, "decision": "refused", "reason": why})
    return {
        "schema_version": 1,
        "run_id": metrics.get("run_id"),
        "scenario": metrics.get("scenario"),
        "dataset": metrics.get("dataset"),
        "participants": metrics.get("sites", []),
        "rounds_completed": metrics.get("rounds_completed"),
        "stopped_early": metrics.get("stopped_early"),
        "participation": [{"round": r["round_num"], "participants": r.get("participants", [])} for r in metrics.get("rounds", [])],
        "defenses": active_controls(config, ledger_verified=ledger is not None, deployment=deployment),
        "anomalies": anomalies,
        "privacy": metrics.get("privacy"),
        "model_hashes": [{"round": r["round_num"], "model_sha256": r.get("model_sha256")} for r in metrics.get("rounds", [])],
        "final_model_sha256": (metrics.get("final") or {}).get("model_sha256"),
        "final_metrics": {k: (metrics.get("final") or {}).get(k) for k in ("mean_site_accuracy", "pooled", "central_test")},
        "fairness": metrics.get("fairness"),
        "ledger": ledger,
    }
