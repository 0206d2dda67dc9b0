"""Attach the audit ledger to a run: key handling, run_config and model_release.

Why here and not in the engine: the engine only emits events to sinks; which
ledger file and which coordinator key to use is a deployment decision.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from fedshield.config import Scenario

LEDGER_FILE = "ledger.sqlite"
PUBLIC_KEY_FILE = "coordinator.pub"


def default_key_path(out_dir: Path) -> Path:
    return out_dir.resolve().parent / ".fedshield-keys" / "coordinator.key"


def open_audit_sink(scenario: Scenario, *, work_dir: Path, out_dir: Path):
    """Open a fresh ledger in ``work_dir`` and record the run's configuration."""
    from fedshield.ledger import AuditSink, generate_signing_key, load_signing_key

    key_path = Path(scenario.audit.signing_key) if scenario.audit.signing_key else default_key_path(out_dir)
    if key_path.exists():
        key = load_signing_key(key_path)
    else:
        key_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = generate_signing_key(key_path)
    pub = Path(f"{key_path}.pub")
    if not pub.exists():
        from cryptography.hazmat.primitives import serialization

        pub.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    shutil.copyfile(pub, work_dir / PUBLIC_KEY_FILE)
    sink = AuditSink.open(work_dir / LEDGER_FILE, signing_key=key)
    return sink


def record_run_config(sink, scenario: Scenario, run_id: str, site_ids: list[str]) -> None:
    sink.record("run_config", {
        "run_id": run_id,
        "config_sha256": hashlib.sha256(scenario.to_json().encode()).hexdigest(),
        "scenario": scenario.name,
        "sites": site_ids,
    })


def record_model_release(sink, *, round_num: int, model_sha256: str) -> None:
    sink.record("model_release", {"round": round_num, "model_sha256": model_sha256})
    sink.sign_head(round_num=round_num)
