"""Coordinate-wise trimmed mean (Yin et al. 2018)."""

from __future__ import annotations

import numpy as np

from fedshield.aggregation._sortnet import MODE_TRIMMED, coordinate_statistic
from fedshield.aggregation._validation import as_updates, check_int, raise_nonfinite, require

__all__ = ["trimmed_mean"]


def trimmed_mean(updates: np.ndarray, *, f: int) -> np.ndarray:
    """Per coordinate, drop the f smallest and f largest values and average the rest.

    Uses weights: no (an attacker could otherwise claim a huge example count).
    Needs n > 2f so that something is left to average.
    """
    x = as_updates(updates, owner="trimmed_mean")
    f = check_int(f, name="f", owner="trimmed_mean", minimum=0)
    n = x.shape[0]
    require(n > 2 * f, f"Trimmed mean needs n > 2f updates; got n={n}, f={f}. Lower f or add sites.")
    out, finite = coordinate_statistic(x, mode=MODE_TRIMMED, trim=f)
    if not finite:
        raise_nonfinite(x, owner="trimmed_mean")
    return out
