"""Bucketing, a pre-aggregator (Karimireddy, He & Jaggi 2022)."""

from __future__ import annotations

import numpy as np

from fedshield.aggregation._numeric import all_finite
from fedshield.aggregation._validation import as_updates, as_weights, check_int, raise_nonfinite
from fedshield.errors import AggregationError

__all__ = ["bucketing"]


def bucketing(
    updates: np.ndarray,
    weights: np.ndarray | None = None,
    *,
    bucket_size: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Shuffle the updates, cut them into buckets of ``bucket_size`` and average each.

    Returns ceil(n / s) bucket means (the last bucket may be smaller) and their
    weights (sum of the members' weights). Uses weights: only to carry them
    along; bucket means are unweighted, as in the paper. Row identity is lost,
    so stateful rules (FoolsGold) cannot follow bucketing.
    """
    x = as_updates(updates, owner="bucketing")
    n = x.shape[0]
    w = as_weights(weights, n, owner="bucketing")
    s = check_int(bucket_size, name="bucket_size", owner="bucketing", minimum=1)
    if not isinstance(rng, np.random.Generator):
        raise AggregationError(
            "The 'rng' parameter of bucketing must be a numpy Generator (np.random.default_rng(seed)). "
            f"Got {type(rng).__name__} instead."
        )
    if not all_finite(x):
        raise_nonfinite(x, owner="bucketing")
    order = rng.permutation(n)
    n_buckets = -(-n // s)
    mix = np.zeros((n_buckets, n), dtype=np.float32)
    out_w = np.zeros(n_buckets)
    for b in range(n_buckets):
        members = order[b * s:(b + 1) * s]
        mix[b, members] = 1.0 / len(members)
        out_w[b] = w[members].sum()
    return mix @ x, out_w
