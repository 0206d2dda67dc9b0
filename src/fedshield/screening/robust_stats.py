"""Robust location/scale scores: median and MAD instead of mean and standard deviation.

Why: the statistics that decide who is an outlier must not be steerable by
the outliers themselves; the median and the median absolute deviation keep
their meaning while almost half the values are adversarial.
"""

from __future__ import annotations

import numpy as np

__all__ = ["robust_z", "MAD_TO_SIGMA"]

MAD_TO_SIGMA = 1.4826  # MAD of a normal distribution times this = its sigma


def robust_z(values: np.ndarray, *, min_scale: float = 1e-12) -> tuple[np.ndarray, float, float]:
    """(z, median, scale) with z = (v - median) / (1.4826 * MAD).

    The scale is floored at ``min_scale`` plus 1e-6 of |median| so that a
    perfectly agreeing majority (MAD = 0) still yields finite, huge z-scores
    for anyone who deviates, instead of dividing by zero.
    """
    v = np.asarray(values, dtype=np.float64)
    med = float(np.median(v))
    mad = float(np.median(np.abs(v - med)))
    scale = max(MAD_TO_SIGMA * mad, min_scale + 1e-6 * abs(med))
    return (v - med) / scale, med, scale
