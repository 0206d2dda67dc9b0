"""Centered clipping (Karimireddy, He & Jaggi 2021)."""

from __future__ import annotations

import numpy as np

from fedshield.aggregation._numeric import gram
from fedshield.aggregation._sortnet import MODE_MEDIAN, coordinate_statistic
from fedshield.aggregation._validation import (
    as_updates,
    check_int,
    check_positive_float,
    raise_nonfinite,
    require,
)

__all__ = ["centered_clipping"]


def centered_clipping(
    updates: np.ndarray,
    *,
    tau_l2: float | None = None,
    n_iter: int = 3,
    centre: np.ndarray | None = None,
) -> np.ndarray:
    """v <- v + (1/n) Sum_i clip_tau(x_i - v), repeated ``n_iter`` times.

    clip_tau(u) = u * min(1, tau / ||u||). Uses weights: no (plain 1/n, as in
    the paper). ``centre`` is the starting point v_0: the previous round's
    aggregate (momentum) when the caller has one, else the coordinate-wise
    median, which is already robust. ``tau_l2`` (L2 units of the updates)
    defaults to the median distance of the updates to v_0, so half of them pass
    unclipped whatever their scale.

    Why it is fast: with y_i = x_i - v_0 every iterate is v_0 + Y^T c, so the
    distances come from the Gram matrix of Y and only the final combination
    touches the d coordinates.
    """
    owner = "centered_clipping"
    x = as_updates(updates, owner=owner)
    n, d = x.shape
    n_iter = check_int(n_iter, name="n_iter", owner=owner, minimum=1)
    if centre is None:
        v0, finite = coordinate_statistic(x, mode=MODE_MEDIAN)
        if not finite:
            raise_nonfinite(x, owner=owner)
    else:
        v0 = np.asarray(centre, dtype=np.float32)
        require(
            v0.shape == (d,) and bool(np.all(np.isfinite(v0))),
            f"The 'centre' parameter of {owner} must be a finite (d,) vector with d={d}. "
            f"Got shape {v0.shape} instead.",
        )
    h, finite = gram(x, centre=v0)
    if not finite:
        raise_nonfinite(x, owner=owner)
    diag = np.diag(h)
    if tau_l2 is None:
        tau = float(np.median(np.sqrt(np.maximum(diag, 0.0))))
    else:
        tau = check_positive_float(tau_l2, name="tau_l2", owner=owner)
    c = np.zeros(n)
    for _ in range(n_iter):
        hc = h @ c
        dist = np.sqrt(np.maximum(diag - 2.0 * hc + c @ hc, 0.0))
        scale = np.ones(n)
        far = dist > tau
        scale[far] = tau / dist[far]
        # v_{l+1} - v_0 = (1 - S/n)(v_l - v_0) + (1/n) Sum_i s_i y_i
        c = (1.0 - scale.sum() / n) * c + scale / n
    out = c.astype(np.float32) @ x
    out += np.float32(1.0 - c.sum()) * v0
    return out
