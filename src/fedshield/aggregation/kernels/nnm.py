"""Nearest-neighbour mixing, a pre-aggregator (Allouah et al. 2023)."""

from __future__ import annotations

import numpy as np

from fedshield.aggregation._numeric import gram, sq_distances
from fedshield.aggregation._validation import as_updates, check_int, raise_nonfinite, require

__all__ = ["nearest_neighbor_mixing"]


def nearest_neighbor_mixing(updates: np.ndarray, *, f: int) -> np.ndarray:
    """Replace each update by the mean of its n - f nearest updates, itself included.

    Uses weights: no (weights pass through unchanged). Needs n > f. Distance
    ties are broken by the lower index, after the point itself.

    Why it is fast and lean: the neighbour sets come from one Gram matrix, and
    the mixing is one (n, n) x (n, d) GEMM with a 0/(1/(n-f)) matrix, so no
    (n, n - f, d) gather is ever built. Output: a new (n, d) float32 array.
    """
    x = as_updates(updates, owner="NNM")
    f = check_int(f, name="f", owner="NNM", minimum=0)
    n = x.shape[0]
    require(n > f, f"NNM needs n > f updates; got n={n}, f={f}. Lower f or add sites.")
    g, finite = gram(x, centre="auto")
    if not finite:
        raise_nonfinite(x, owner="NNM")
    dist2 = sq_distances(g)
    np.fill_diagonal(dist2, -1.0)  # each point is its own first neighbour
    nearest = np.argsort(dist2, axis=1, kind="stable")[:, : n - f]
    mix = np.zeros((n, n), dtype=np.float32)
    np.put_along_axis(mix, nearest, np.float32(1.0 / (n - f)), axis=1)
    return mix @ x
