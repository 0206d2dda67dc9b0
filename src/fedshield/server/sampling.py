"""Seeded partial participation: which sites train in a round.

Seeding by (run seed, round) rather than by a running generator means a
resumed server samples exactly the sites the original would have.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from fedshield.errors import param_error


class UniformSampler:
    def __init__(self, *, fraction: float = 1.0, min_sites: int = 1, seed: int = 0):
        if not 0 < fraction <= 1:
            raise param_error("fraction_fit", "UniformSampler", "a float in (0, 1]", fraction)
        if min_sites < 1:
            raise param_error("min_fit_sites", "UniformSampler", "an int >= 1", min_sites)
        self.fraction, self.min_sites, self.seed = fraction, min_sites, seed

    def sample(self, site_ids: Sequence[str], round_num: int) -> list[str]:
        n = len(site_ids)
        k = min(n, max(self.min_sites, math.ceil(self.fraction * n)))
        if k == n:
            return list(site_ids)
        rng = np.random.default_rng([self.seed, round_num])
        chosen = sorted(rng.choice(n, size=k, replace=False).tolist())
        return [site_ids[i] for i in chosen]
