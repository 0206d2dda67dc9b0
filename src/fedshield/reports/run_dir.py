"""Write a run directory atomically.

Layout (documented in the README):
    config.json   the resolved scenario
    metrics.json  per-round and final metrics, per site (deterministic: no timings)
    timing.json   wall-clock seconds (kept apart so metrics.json is reproducible)
    model.pt      the final global model (torch state_dict)
    report.html   plots and tables

The whole directory is written beside the target under a temporary name and
swapped in at the end, so an interrupted or failed write never leaves a
half-written run, and never destroys the previous run in that place.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

from fedshield.models.params import set_flat_params

SCHEMA_VERSION = 1


def _clean(obj: Any) -> Any:
    """JSON has no NaN: undefined metrics (e.g. AUC on one class) become null."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if hasattr(obj, "item") and getattr(obj, "ndim", None) == 0:
        return _clean(obj.item())
    return obj


def metrics_document(result) -> dict[str, Any]:
    sc = result.scenario
    rounds = [r.to_dict() for r in result.history]
    for r in rounds:
        r.pop("seconds", None)
    final = rounds[-1]["evaluation"] if rounds else {}
    return _clean({
        "schema_version": SCHEMA_VERSION,
        "run_id": result.run_id,
        "scenario": sc.name,
        "seed": sc.seed,
        "dataset": result.dataset.name,
        "sites": [s.site_id for s in result.dataset.sites],
        "rounds_completed": len(rounds),
        "stopped_early": result.stopped_early,
        "rounds": rounds,
        "final": {
            "model_sha256": rounds[-1]["model_sha256"] if rounds else None,
            "mean_site_accuracy": final.get("mean_site_accuracy"),
            "per_site": final.get("per_site", {}),
            "pooled": final.get("pooled", {}),
            "central_test": final.get("central_test"),
        },
        **result.extra,
    })


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def write_json(path: Path, doc: Any) -> None:
    _atomic_write(path, (json.dumps(_clean(doc), indent=2, sort_keys=True) + "\n").encode())


def write_run(result, out_dir: str | os.PathLike, *, include: tuple[Path, ...] = ()) -> Path:
    """Write the run directory; ``include`` files (the ledger) are moved into it."""
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        _write_files(result, staging)
        for path in include:
            shutil.move(str(path), staging / path.name)
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
            os.replace(out, old / "run")
            os.replace(staging, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out


def _write_files(result, out: Path) -> None:
    from fedshield.reports.html import render_report

    doc = metrics_document(result)
    _atomic_write(out / "config.json", (result.scenario.to_json() + "\n").encode())
    write_json(out / "metrics.json", doc)
    write_json(out / "timing.json", {
        "wall_seconds": result.seconds,
        "per_round_seconds": [r.seconds for r in result.history],
    })
    model = result.model_factory()
    set_flat_params(model, result.final_parameters)
    tmp = out / "model.pt.tmp"
    torch.save(model.state_dict(), tmp)
    os.replace(tmp, out / "model.pt")
    _atomic_write(out / "report.html", render_report(doc).encode())
