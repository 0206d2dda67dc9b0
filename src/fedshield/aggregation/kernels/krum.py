"""Krum and Multi-Krum (Blanchard et al. 2017)."""

from __future__ import annotations

import numpy as np

from fedshield.aggregation._numeric import convex_combination, gram, sq_distances
from fedshield.aggregation._validation import as_updates, check_int, raise_nonfinite, require

__all__ = ["krum_scores", "krum", "multi_krum"]


def krum_scores(dist2: np.ndarray, *, f: int) -> np.ndarray:
    """Krum score of each point: sum of squared distances to its n - f - 2 nearest others.

    ``dist2`` is an (n, n) squared-distance matrix. Kept separate so Bulyan and
    tests can score any subset from one distance matrix.
    """
    n = dist2.shape[0]
    k = max(min(n - f - 2, n - 1), 0)
    if k == 0:
        return np.zeros(n)
    off = dist2 + np.diag(np.full(n, np.inf))  # exclude self
    return np.sort(off, axis=1)[:, :k].sum(axis=1)


def _scores(updates: np.ndarray, f: int, owner: str) -> tuple[np.ndarray, np.ndarray]:
    x = as_updates(updates, owner=owner)
    f = check_int(f, name="f", owner=owner, minimum=0)
    n = x.shape[0]
    require(
        n >= 2 * f + 3,
        f"{owner} needs n >= 2f + 3 updates; got n={n}, f={f}. Lower f or add sites.",
    )
    g, finite = gram(x, centre="auto")
    if not finite:
        raise_nonfinite(x, owner=owner)
    return x, krum_scores(sq_distances(g), f=f)


def krum(updates: np.ndarray, *, f: int) -> np.ndarray:
    """The single update with the lowest Krum score (ties: lowest index).

    Uses weights: no. Needs n >= 2f + 3. Returns a copy of that row.
    """
    x, scores = _scores(updates, f, "Krum")
    return x[int(np.argmin(scores))].copy()


def multi_krum(updates: np.ndarray, *, f: int, m: int | None = None) -> np.ndarray:
    """Unweighted mean of the m updates with the lowest Krum scores (default m = n - f).

    Uses weights: no. Needs n >= 2f + 3 and 1 <= m <= n. Scores are computed
    once (as in the paper), not re-computed after each pick.
    """
    x, scores = _scores(updates, f, "Multi-Krum")
    n = x.shape[0]
    m = n - int(f) if m is None else check_int(m, name="m", owner="multi_krum", minimum=1)
    require(m <= n, f"Multi-Krum needs m <= n; got m={m}, n={n}. Lower m.")
    chosen = np.argsort(scores, kind="stable")[:m]
    coef = np.zeros(n)
    coef[chosen] = 1.0 / m
    return convex_combination(coef, x)
