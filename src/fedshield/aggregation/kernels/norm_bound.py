"""Norm bounding, a pre-aggregator (Sun et al. 2019, "Can you really backdoor FL?")."""

from __future__ import annotations

import numpy as np

from fedshield.aggregation._numeric import row_stats
from fedshield.aggregation._validation import as_updates, check_positive_float, raise_nonfinite

__all__ = ["norm_bound"]


def norm_bound(updates: np.ndarray, *, max_norm_l2: float) -> np.ndarray:
    """Scale every update with L2 norm above ``max_norm_l2`` down to exactly that norm.

    Uses weights: no. Caps what any single site can contribute; the bound is a
    fixed constant in the updates' L2 units (see ARC for an adaptive one).
    Returns a new (n, d) array.
    """
    x = as_updates(updates, owner="norm_bound")
    bound = check_positive_float(max_norm_l2, name="max_norm_l2", owner="norm_bound")
    sq, _ = row_stats(x)
    if not np.all(np.isfinite(sq)):
        raise_nonfinite(x, owner="norm_bound")
    norms = np.sqrt(sq)
    scale = np.minimum(1.0, bound / np.maximum(norms, 1e-300))
    return x * scale.astype(np.float32)[:, None]
