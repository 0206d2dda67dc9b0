"""FLTrust (Cao et al. 2021)."""

from __future__ import annotations

import numpy as np

from fedshield.aggregation._numeric import row_stats
from fedshield.aggregation._validation import as_reference, as_updates, raise_nonfinite, require

__all__ = ["fltrust"]


def fltrust(updates: np.ndarray, *, reference: np.ndarray) -> np.ndarray:
    """Trust-weighted mean of updates rescaled to the server's root-data update.

    trust_i = ReLU(cos(x_i, g0)); each x_i is rescaled to ||g0||; the result is
    Sum_i trust_i * (||g0|| / ||x_i||) x_i / Sum_i trust_i. ``reference`` is g0,
    the update the server computed on its own small clean root dataset.

    Uses weights: no. If no update has positive trust (all point away from
    g0, or all are zero) the result is the zero update: the round leaves the
    model unchanged rather than following untrusted directions.
    """
    x = as_updates(updates, owner="FLTrust")
    g0 = as_reference(reference, x.shape[1], owner="FLTrust")
    g0_norm = float(np.sqrt(np.dot(g0.astype(np.float64), g0.astype(np.float64))))
    require(
        g0_norm > 0,
        "FLTrust needs a non-zero 'reference' update; got the zero vector. "
        "Check that the server's root dataset produced a gradient step.",
    )
    sq, dots = row_stats(x, g0)
    if not np.all(np.isfinite(sq)):
        raise_nonfinite(x, owner="FLTrust")
    norms = np.sqrt(sq)
    safe = np.where(norms > 0, norms, 1.0)
    trust = np.where(norms > 0, np.maximum(dots / (safe * g0_norm), 0.0), 0.0)
    total = trust.sum()
    if total <= 0:
        return np.zeros(x.shape[1], dtype=np.float32)
    coef = trust * (g0_norm / safe) / total
    return coef.astype(np.float32) @ x
