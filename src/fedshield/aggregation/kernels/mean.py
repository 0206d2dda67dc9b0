"""Weighted mean (FedAvg): the non-robust baseline every robust rule is compared to."""

from __future__ import annotations

import numpy as np

from fedshield.aggregation._numeric import all_finite, convex_combination
from fedshield.aggregation._validation import as_updates, as_weights, raise_nonfinite

__all__ = ["weighted_mean"]


def weighted_mean(updates: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Sum_i w_i x_i / Sum_i w_i, w = example counts (uniform if None).

    Uses weights: yes. One float32 GEMV; no robustness at all (one bad site
    moves the result arbitrarily), which is why it is the reference point.
    """
    x = as_updates(updates, owner="weighted_mean")
    w = as_weights(weights, x.shape[0], owner="weighted_mean", need_positive_sum=True)
    if not all_finite(x):
        raise_nonfinite(x, owner="weighted_mean")
    out = convex_combination(w / w.sum(), x)
    if not np.all(np.isfinite(out)):
        raise_nonfinite(x, owner="weighted_mean")
    return out
