"""Geometric median by smoothed Weiszfeld iterations (RFA, Pillutla et al. 2022)."""

from __future__ import annotations

import numpy as np

from fedshield.aggregation._numeric import convex_combination, gram
from fedshield.aggregation._validation import (
    as_updates,
    as_weights,
    check_int,
    check_positive_float,
    raise_nonfinite,
)

__all__ = ["geometric_median"]


def geometric_median(
    updates: np.ndarray,
    weights: np.ndarray | None = None,
    *,
    max_iter: int = 100,
    ftol: float = 1e-6,
    nu_l2: float = 1e-6,
) -> np.ndarray:
    """argmin_z Sum_i a_i ||z - x_i||, a = weights / Sum(weights) (RFA's weighted form).

    Uses weights: yes (as RFA does). Starts at the weighted mean; each step sets
    z <- Sum_i b_i x_i / Sum_i b_i with b_i = a_i / max(nu_l2, ||z - x_i||), and
    stops after ``max_iter`` steps or when the objective improves by less than
    ``ftol`` times its value. ``nu_l2`` (L2 units of the updates) smooths the
    steps when z lands on a data point.

    Why it is fast: z always stays a convex combination z = X^T c, so
    ||z - x_i||^2 = c^T G c - 2 (G c)_i + G_ii needs only the (n, n) Gram
    matrix; the iterations never touch the d coordinates, and the result is
    one GEMV at the end.
    """
    owner = "geometric_median"
    x = as_updates(updates, owner=owner)
    n = x.shape[0]
    alpha = as_weights(weights, n, owner=owner, need_positive_sum=True)
    alpha = alpha / alpha.sum()
    max_iter = check_int(max_iter, name="max_iter", owner=owner, minimum=0)
    ftol = check_positive_float(ftol, name="ftol", owner=owner, allow_zero=True)
    nu_l2 = check_positive_float(nu_l2, name="nu_l2", owner=owner)
    g, finite = gram(x, centre="auto")  # distances are translation-invariant
    if not finite:
        raise_nonfinite(x, owner=owner)
    diag = np.diag(g)

    def distances(c: np.ndarray) -> np.ndarray:
        gc = g @ c
        return np.sqrt(np.maximum(c @ gc - 2.0 * gc + diag, 0.0))

    c = alpha.copy()
    dist = distances(c)
    objective = float(alpha @ dist)
    for _ in range(max_iter):
        beta = alpha / np.maximum(dist, nu_l2)
        c = beta / beta.sum()
        dist = distances(c)
        previous, objective = objective, float(alpha @ dist)
        if abs(previous - objective) <= ftol * objective:
            break
    return convex_combination(c, x)
