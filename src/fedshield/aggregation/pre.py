"""Registered pre-aggregators: chain any number of them in front of an aggregator."""

from __future__ import annotations

import numpy as np

from fedshield.aggregation import kernels as K
from fedshield.aggregation._validation import check_int, check_positive_float
from fedshield.aggregation.base import PreAggregator, RuleTags, register_pre_aggregator

__all__ = ["NearestNeighborMixing", "Bucketing", "AdaptiveRobustClipping", "NormBound"]


@register_pre_aggregator
class NearestNeighborMixing(PreAggregator):
    """NNM: each update becomes the mean of its n - f nearest (itself included); n > f."""

    name = "nnm"

    def __init__(self, *, f: int) -> None:
        self.f = check_int(f, name="f", owner="NearestNeighborMixing", minimum=0)

    def min_updates(self) -> int:
        return self.f + 1

    def requirement(self) -> str:
        return "f + 1"

    def _transform(self, x, w, **_):
        return K.nearest_neighbor_mixing(x, f=self.f), w


@register_pre_aggregator
class Bucketing(PreAggregator):
    """Random buckets of ``bucket_size`` averaged; row identity is lost.

    Unseeded by default on purpose: a shuffle an attacker can predict lets it
    plan which honest updates share its bucket. Pass ``seed`` or ``rng`` for
    reproducible runs.
    """

    name = "bucketing"
    tags = RuleTags(permutation_invariant=False, randomized=True, preserves_rows=False)

    def __init__(self, *, bucket_size: int = 2, seed: int | None = None) -> None:
        self.bucket_size = check_int(bucket_size, name="bucket_size", owner="Bucketing", minimum=1)
        self.seed = seed
        self._own_rng = np.random.default_rng(seed)

    def _transform(self, x, w, *, rng):
        return K.bucketing(x, w, bucket_size=self.bucket_size, rng=rng if rng is not None else self._own_rng)


@register_pre_aggregator
class AdaptiveRobustClipping(PreAggregator):
    """ARC: clip the floor(2 f/n (n-f)) largest updates to the next norm; n > 2f."""

    name = "arc"

    def __init__(self, *, f: int) -> None:
        self.f = check_int(f, name="f", owner="AdaptiveRobustClipping", minimum=0)

    def min_updates(self) -> int:
        return 2 * self.f + 1

    def requirement(self) -> str:
        return "2f + 1"

    def _transform(self, x, w, **_):
        return K.adaptive_robust_clipping(x, f=self.f), w


@register_pre_aggregator
class NormBound(PreAggregator):
    """Clip every update to L2 norm ``max_norm_l2`` (in the updates' units)."""

    name = "norm_bound"

    def __init__(self, *, max_norm_l2: float) -> None:
        self.max_norm_l2 = check_positive_float(max_norm_l2, name="max_norm_l2", owner="NormBound")

    def _transform(self, x, w, **_):
        return K.norm_bound(x, max_norm_l2=self.max_norm_l2), w
