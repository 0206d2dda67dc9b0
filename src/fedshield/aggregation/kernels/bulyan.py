"""Bulyan (El Mhamdi et al. 2018)."""

from __future__ import annotations

import numpy as np

from fedshield.aggregation._numeric import gram, sq_distances
from fedshield.aggregation._sortnet import MODE_BULYAN, coordinate_statistic
from fedshield.aggregation._validation import as_updates, check_int, raise_nonfinite, require

__all__ = ["bulyan_select", "bulyan"]


def bulyan_select(dist2: np.ndarray, *, f: int) -> np.ndarray:
    """Indices of the theta = n - 2f updates Bulyan's recursive Krum picks, in pick order.

    Each step scores the *remaining* set with Krum (same f; at least one
    neighbour, as Flower does) and moves the winner out. All steps reuse one
    distance matrix, so this is O(theta * n^2) on (n, n) data, not on d.
    """
    n = dist2.shape[0]
    remaining = list(range(n))
    picked: list[int] = []
    for _ in range(n - 2 * f):
        sub = dist2[np.ix_(remaining, remaining)]
        r = len(remaining)
        k = min(max(r - f - 2, 1), r - 1)
        if k <= 0:
            best = 0
        else:
            off = sub + np.diag(np.full(r, np.inf))
            best = int(np.argmin(np.sort(off, axis=1)[:, :k].sum(axis=1)))
        picked.append(remaining.pop(best))
    return np.array(picked, dtype=np.int64)


def bulyan(updates: np.ndarray, *, f: int) -> np.ndarray:
    """Bulyan: Krum-select theta = n - 2f updates, then per coordinate average
    the beta = theta - 2f values closest to their median.

    Uses weights: no. Needs n >= 4f + 3. The coordinate stage runs in the same
    sorting-network pass as the median (ties towards the smaller value).
    """
    x = as_updates(updates, owner="Bulyan")
    f = check_int(f, name="f", owner="Bulyan", minimum=0)
    n = x.shape[0]
    require(n >= 4 * f + 3, f"Bulyan needs n >= 4f + 3 updates; got n={n}, f={f}. Lower f or add sites.")
    g, finite = gram(x, centre="auto")
    if not finite:
        raise_nonfinite(x, owner="Bulyan")
    chosen = np.sort(bulyan_select(sq_distances(g), f=f))
    theta = n - 2 * f
    out, _ = coordinate_statistic(x, mode=MODE_BULYAN, rows=chosen, beta=theta - 2 * f)
    return out
