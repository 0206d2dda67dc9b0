"""FLAME (Nguyen et al. 2022): clustering, norm clipping and noising."""

from __future__ import annotations

import warnings

import numpy as np

from fedshield.aggregation._numeric import gram
from fedshield.aggregation._validation import as_updates, check_positive_float, raise_nonfinite, require
from fedshield.errors import AggregationError

__all__ = ["flame_admitted", "flame"]


def flame_admitted(cosine_distance: np.ndarray) -> np.ndarray:
    """Indices in the largest HDBSCAN cluster (min_cluster_size = n//2 + 1, min_samples=1).

    The cluster must hold a majority, so a minority of poisoned models that
    point elsewhere cannot form or join it. Empty if no majority cluster exists.
    """
    from sklearn.cluster import HDBSCAN

    n = cosine_distance.shape[0]
    model = HDBSCAN(
        min_cluster_size=n // 2 + 1, min_samples=1, metric="precomputed", allow_single_cluster=True
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        labels = model.fit_predict(cosine_distance)
    clustered = labels[labels >= 0]
    if clustered.size == 0:
        return np.zeros(0, dtype=np.int64)
    majority = np.bincount(clustered).argmax()
    return np.flatnonzero(labels == majority)


def flame(
    updates: np.ndarray,
    *,
    noise_lambda: float = 0.001,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """FLAME: keep the majority cosine cluster, clip to the median norm, add noise.

    1. HDBSCAN on pairwise cosine distances; admit the majority cluster.
    2. S = median L2 norm over *all* n updates; clip admitted ones to S.
    3. Average the clipped admitted updates (uses weights: no).
    4. Add N(0, (noise_lambda * S)^2) per coordinate (paper: lambda = 0.001 for
       image classification; 0 disables it). ``rng`` makes the noise
       reproducible and is required when noise_lambda > 0.

    Needs n >= 3. If HDBSCAN finds no majority cluster the zero update is
    returned (the round is skipped) instead of trusting anyone.
    """
    x = as_updates(updates, owner="FLAME")
    n, d = x.shape
    require(n >= 3, f"FLAME needs at least 3 updates to find a majority cluster; got n={n}. Add sites.")
    lam = check_positive_float(noise_lambda, name="noise_lambda", owner="FLAME", allow_zero=True)
    if lam > 0 and not isinstance(rng, np.random.Generator):
        raise AggregationError(
            "The 'rng' parameter of FLAME must be a numpy Generator when noise_lambda > 0. "
            f"Got {type(rng).__name__} instead. Pass rng=np.random.default_rng(seed)."
        )
    g, finite = gram(x, centre=None)
    if not finite:
        raise_nonfinite(x, owner="FLAME")
    norms = np.sqrt(np.maximum(np.diag(g), 0.0))
    denom = np.outer(norms, norms)
    cos = np.divide(g, denom, out=np.zeros_like(g), where=denom > 0)
    dist = np.clip(1.0 - cos, 0.0, 2.0)
    np.fill_diagonal(dist, 0.0)
    admitted = flame_admitted(dist)
    s = float(np.median(norms))
    if admitted.size == 0:
        return np.zeros(d, dtype=np.float32)
    scale = np.minimum(1.0, s / np.maximum(norms[admitted], 1e-300))
    coef = np.zeros(n)
    coef[admitted] = scale / admitted.size
    out = coef.astype(np.float32) @ x
    if lam > 0 and s > 0:
        out += rng.normal(0.0, lam * s, size=d).astype(np.float32)
    return out
