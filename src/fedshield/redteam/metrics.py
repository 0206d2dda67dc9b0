"""Scoring a finished run: accuracy, backdoor success, screening rates.

Backdoor success is measured where the attack aims: on the canonical test
split, the fraction of pneumonia X-rays classified normal once the trigger
is stamped on them; on heart disease, the fraction of the targeted group's
diseased test patients classified no-disease. The same figure is computed
for every cell, so a clean run shows the base rate an attack must beat.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fedshield.client.trainer import predict_proba
from fedshield.data import FederatedDataset
from fedshield.evaluation import binary_metrics
from fedshield.models.params import set_flat_params
from fedshield.redteam.poison import stamp_trigger


def _rate(flags: np.ndarray) -> float | None:
    return float(np.mean(flags)) if flags.size else None


def pixel_backdoor_success(model, x: np.ndarray, y: np.ndarray, *, size: int = 3, corner: str = "bottom_right",
                           value: float = 1.0) -> dict[str, Any]:
    sick = np.asarray(y) == 1
    clean = predict_proba(model, x[sick]) >= 0.5
    triggered = predict_proba(model, stamp_trigger(x[sick], size=size, corner=corner, value=value)) >= 0.5
    return {
        "backdoor_success": _rate(~triggered),
        # among X-rays the model gets right without the trigger: what the trigger alone flips
        "backdoor_flip_rate": _rate(~triggered[clean]),
        "backdoor_n": int(sick.sum()),
    }


def semantic_backdoor_success(model, dataset: FederatedDataset, masks: dict[str, tuple[np.ndarray, np.ndarray]]
                              ) -> dict[str, Any]:
    hits, n = [], 0
    for site in dataset.sites:
        target = masks[site.site_id][1] & (site.y_test == 1)
        if target.any():
            hits.append(predict_proba(model, site.x_test[target]) < 0.5)
            n += int(target.sum())
    flags = np.concatenate(hits) if hits else np.zeros(0, bool)
    return {"backdoor_success": _rate(flags), "backdoor_flip_rate": None, "backdoor_n": n}


def final_metrics(model_factory, parameters: np.ndarray, dataset: FederatedDataset, *, backdoor: str | None,
                  trigger: dict[str, Any] | None = None, group_masks=None) -> dict[str, Any]:
    model = model_factory()
    set_flat_params(model, parameters)
    x, y = dataset.pooled_test_or_concat()
    m = binary_metrics(y, predict_proba(model, x))
    out: dict[str, Any] = {k: m[k] for k in ("accuracy", "auc", "sensitivity", "specificity")}
    out["test_examples"] = int(y.size)
    if backdoor == "pixel":
        out.update(pixel_backdoor_success(model, x, y, **(trigger or {})))
    elif backdoor == "semantic":
        out.update(semantic_backdoor_success(model, dataset, group_masks))
    else:
        out.update(backdoor_success=None, backdoor_flip_rate=None, backdoor_n=0)
    return out


def screening_rates(history, *, malicious: set[str], from_round: int) -> dict[str, Any]:
    """TPR/FPR of 'rejected' verdicts (and of 'flagged' = rejected or clipped).

    A site counts as malicious only in rounds where it attacks.
    """
    counts = {"tp": 0, "fp": 0, "flag_tp": 0, "flag_fp": 0, "pos": 0, "neg": 0}
    for rec in history:
        active = rec.round_num >= from_round
        for v in rec.verdicts:
            bad = active and v.get("site_id") in malicious
            decision = v.get("decision")
            counts["pos" if bad else "neg"] += 1
            counts["tp" if bad else "fp"] += decision == "rejected"
            counts["flag_tp" if bad else "flag_fp"] += decision in ("rejected", "clipped")
    pos, neg = counts["pos"], counts["neg"]
    return {
        "tpr": counts["tp"] / pos if pos else None,
        "fpr": counts["fp"] / neg if neg else None,
        "flag_tpr": counts["flag_tp"] / pos if pos else None,
        "flag_fpr": counts["flag_fp"] / neg if neg else None,
        "malicious_updates": pos,
        "honest_updates": neg,
    }
