"""Round-boundary checkpoints: parameters, round, server-optimizer state and
history in ONE file, written to a temp name, fsync-ed and renamed, so a crash
mid-write leaves the previous checkpoint whole. Updates of the unfinished
round are journaled by the coordinator, not here."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from fedshield.errors import ConfigError

NAME = "checkpoint.npz"


def save(state_dir: Path, *, run_id: str, round_num: int, parameters: np.ndarray, optimizer: dict[str, Any],
         history: list[dict[str, Any]]) -> None:
    state_dir.mkdir(parents=True, exist_ok=True)
    meta = {"run_id": run_id, "round": round_num, "history": history,
            "optimizer_none": [k for k, v in optimizer.items() if v is None]}
    arrays = {"parameters": parameters,
              "meta": np.frombuffer(json.dumps(meta, default=str).encode(), dtype=np.uint8)}
    arrays.update({f"opt_{k}": v for k, v in optimizer.items() if isinstance(v, np.ndarray)})
    tmp = state_dir / (NAME + ".tmp")
    with open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, state_dir / NAME)


def load(state_dir: Path, run_id: str) -> dict[str, Any] | None:
    path = state_dir / NAME
    if not path.exists():
        return None
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(arrays.pop("meta").tobytes())
    if meta["run_id"] != run_id:
        raise ConfigError(f"The checkpoint in {str(state_dir)!r} belongs to run {meta['run_id']!r}, not {run_id!r}; "
                          "use another state_dir or remove it to start afresh.")
    optimizer: dict[str, Any] = {k[4:]: v for k, v in arrays.items() if k.startswith("opt_")}
    optimizer.update({k: None for k in meta["optimizer_none"]})
    return {"round": meta["round"], "history": meta["history"], "parameters": arrays["parameters"],
            "optimizer": optimizer}
