"""Coordinate-wise median (Yin et al. 2018)."""

from __future__ import annotations

import numpy as np

from fedshield.aggregation._sortnet import MODE_MEDIAN, coordinate_statistic
from fedshield.aggregation._validation import as_updates, raise_nonfinite

__all__ = ["coordinate_median"]


def coordinate_median(updates: np.ndarray) -> np.ndarray:
    """Per-coordinate median; for even n the mean of the two middle values.

    Uses weights: no. Robust while fewer than half the values of a coordinate
    are Byzantine. Computed with a vectorised sorting network over blocks of
    columns (see ``_sortnet``), not one sort per column.
    """
    x = as_updates(updates, owner="coordinate_median")
    out, finite = coordinate_statistic(x, mode=MODE_MEDIAN)
    if not finite:
        raise_nonfinite(x, owner="coordinate_median")
    return out
