"""Client-level DP: DP-FedAvg (McMahan et al. 2018) with fixed or adaptive clipping.

Why a wrapper around the aggregator: "DP as a wrapper around any strategy" — the
robust aggregators, screening and server optimizers stay as they are. Updates are
clipped to norm C and given equal weight (weighting by record counts would leak
them and raise the sensitivity); the noise std on the mean is
noise_multiplier * C / n. The guarantee is proven for the mean: a robust
aggregator inside moves by more than C / n when one update changes, so the
summary warns when the inner aggregator is not the mean.

Adaptive clipping (Andrew et al. 2021): each site reports whether its update
fitted under C; the noised count (std ``count_noise_multiplier``) moves C
geometrically toward the target quantile. The update noise is raised so that both
queries together cost exactly ``noise_multiplier``:
z_update = (z**-2 - (2 sigma_b)**-2) ** -1/2.

Distributed placement: each site clips and adds N(0, (zC)^2 / m) itself (m the
sites per round), so the sum carries N(0, (zC)^2) and the server — or a secure
aggregation protocol — never sees an un-noised update. If fewer than m sites
answer, the sum carries less noise than accounted: the summary records each
round's count.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from fedshield.errors import ConfigError
from fedshield.privacy.noise import GaussianNoise


def clip_to_norm(update: np.ndarray, *, clipping_norm: float) -> tuple[np.ndarray, float]:
    """(clipped update, its norm before clipping)."""
    norm = float(np.linalg.norm(update))
    factor = min(1.0, clipping_norm / norm) if norm > 0 else 1.0
    return update * factor, norm


def update_noise_multiplier(*, noise_multiplier: float, count_noise_multiplier: float) -> float:
    """Noise multiplier left for the update once the clipped-count has been paid for."""
    rest = noise_multiplier ** -2 - (2 * count_noise_multiplier) ** -2
    if rest <= 0:
        raise ConfigError(
            f"The 'privacy.adaptive_clipping.count_noise_multiplier' key ({count_noise_multiplier:g}) is too small for "
            f"noise_multiplier {noise_multiplier:.4g}: it must exceed noise_multiplier / 2 = "
            f"{noise_multiplier / 2:.4g}. "
            "Raise it, or lower the noise (larger epsilon)."
        )
    return rest ** -0.5


class DPFedAvgAggregator:
    """Aggregator wrapper: (updates (n,d), weights (n,), *, client_ids, reference, rng) -> (d,)."""

    def __init__(
        self,
        inner: Any,
        *,
        noise_multiplier: float,
        clipping_norm: float,
        noise: GaussianNoise,
        placement: str = "server",
        target_quantile: float | None = None,
        clip_learning_rate: float = 0.2,
        count_noise_multiplier: float | None = None,
    ):
        self.inner = inner
        self.noise_multiplier = noise_multiplier
        self.clipping_norm = clipping_norm
        self.noise = noise
        self.placement = placement
        self.target_quantile = target_quantile  # None: fixed clipping
        self.clip_learning_rate = clip_learning_rate
        self.count_noise_multiplier = count_noise_multiplier
        self.update_noise_multiplier = (
            noise_multiplier if target_quantile is None
            else update_noise_multiplier(noise_multiplier=noise_multiplier,
                                         count_noise_multiplier=count_noise_multiplier)
        )
        self.history: list[dict[str, float]] = []

    def __call__(self, updates: np.ndarray, weights: np.ndarray, *, client_ids, reference, rng) -> np.ndarray:
        n, d = updates.shape
        equal = np.ones(n)
        if self.placement == "distributed":  # clipped and noised at the sites already
            out = np.asarray(self.inner(updates, equal, client_ids=client_ids, reference=reference, rng=rng))
            self.history.append({"sites": n, "clipping_norm": self.clipping_norm})
            return out.astype(np.float32)
        c = self.clipping_norm
        clipped, norms = zip(*(clip_to_norm(u.astype(np.float64), clipping_norm=c) for u in updates))
        clipped = np.stack(clipped).astype(np.float32)
        mean = np.asarray(self.inner(clipped, equal, client_ids=client_ids, reference=reference, rng=rng), np.float64)
        std = self.update_noise_multiplier * c / n
        out = mean + self.noise.normal((d,), std=std)
        record = {"sites": n, "clipping_norm": c, "noise_std": std}
        if self.target_quantile is not None:
            fitted = float(sum(nm <= c for nm in norms))
            noisy = (fitted + float(self.noise.normal((1,), std=self.count_noise_multiplier)[0])) / n
            self.clipping_norm = c * math.exp(-self.clip_learning_rate * (noisy - self.target_quantile))
            record["noisy_fraction_clipped_under"] = noisy
        self.history.append(record)
        return out.astype(np.float32)


class DistributedNoiseTransform:
    """UpdateTransform: clip, then add this site's share N(0, (zC)^2 / m) of the noise."""

    def __init__(self, *, noise_multiplier: float, clipping_norm: float, sites_per_round: int, noise: GaussianNoise):
        self.noise_multiplier = noise_multiplier
        self.clipping_norm = clipping_norm
        self.sites_per_round = sites_per_round
        self.noise = noise

    def __call__(self, delta: np.ndarray, *, round_num: int, num_examples: int) -> np.ndarray:
        clipped, _ = clip_to_norm(delta.astype(np.float64), clipping_norm=self.clipping_norm)
        std = self.noise_multiplier * self.clipping_norm / math.sqrt(self.sites_per_round)
        return (clipped + self.noise.normal(delta.shape, std=std)).astype(np.float32)
