"""Adaptive robust clipping, a pre-aggregator (Allouah et al. 2024)."""

from __future__ import annotations

import math

import numpy as np

from fedshield.aggregation._numeric import row_stats
from fedshield.aggregation._validation import as_updates, check_int, raise_nonfinite, require

__all__ = ["adaptive_robust_clipping", "arc_clip_count"]


def arc_clip_count(n: int, f: int) -> int:
    """k = floor(2 (f / n) (n - f)): how many of the largest updates ARC clips."""
    return int(math.floor(2.0 * f * (n - f) / n))


def adaptive_robust_clipping(updates: np.ndarray, *, f: int) -> np.ndarray:
    """Clip the k = floor(2 (f/n)(n - f)) largest-norm updates to the (k+1)-th largest norm.

    Definition from Allouah et al., "Boosting Robustness by Clipping Gradients
    in Distributed Learning" (2024), as also implemented in their ByzFL: sort
    norms ascending, threshold = the largest norm among the n - k kept
    unclipped, and scale each of the k largest by min(1, threshold / norm).
    The threshold adapts to the honest norms, so no clipping constant has to
    be tuned. Uses weights: no. Needs n > 2f. Returns a new (n, d) array.
    """
    x = as_updates(updates, owner="ARC")
    f = check_int(f, name="f", owner="ARC", minimum=0)
    n = x.shape[0]
    require(n > 2 * f, f"ARC needs n > 2f updates; got n={n}, f={f}. Lower f or add sites.")
    sq, _ = row_stats(x)
    if not np.all(np.isfinite(sq)):
        raise_nonfinite(x, owner="ARC")
    norms = np.sqrt(sq)
    k = arc_clip_count(n, f)
    scale = np.ones(n)
    if k > 0:
        order = np.argsort(norms, kind="stable")
        threshold = norms[order[n - k - 1]]
        largest = order[n - k:]
        scale[largest] = np.minimum(1.0, threshold / np.maximum(norms[largest], 1e-300))
    return x * scale.astype(np.float32)[:, None]
