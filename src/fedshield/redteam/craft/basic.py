"""Closed-form attacks: sign flipping, Gaussian noise, ALIE, IPM.

Each takes the benign updates it is allowed to see as an (n, d) array and
returns one crafted (d,) update, which the colluders all send.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import norm

from fedshield.errors import param_error


def _check(benign: np.ndarray, owner: str) -> np.ndarray:
    benign = np.asarray(benign, dtype=np.float64)
    if benign.ndim != 2 or benign.shape[0] < 1:
        raise param_error("benign", owner, "a non-empty (n, d) array of updates", getattr(benign, "shape", benign))
    return benign


def sign_flip(own: np.ndarray, *, scale: float = 1.0) -> np.ndarray:
    """Send the reverse of one's honest update, ``scale`` times as long."""
    return -float(scale) * np.asarray(own, dtype=np.float64)


def gaussian(*, dim: int, sigma: float, rng: np.random.Generator, mean: np.ndarray | None = None) -> np.ndarray:
    """An update of pure noise N(mean, sigma^2 I) (Blanchard et al. 2017's Gaussian attack)."""
    if not sigma > 0:
        raise param_error("sigma", "gaussian", "a float > 0", sigma)
    noise = rng.normal(0.0, float(sigma), size=int(dim))
    return noise if mean is None else np.asarray(mean, dtype=np.float64) + noise


def alie_z(*, num_sites: int, num_malicious: int) -> float:
    """Baruch et al. (2019), z_max: s = floor(n/2 + 1) - m sites must be swayed,
    and z = Phi^{-1}((n - s) / n) keeps the crafted value inside the range
    where that many honest coordinates lie farther from the mean."""
    n, m = int(num_sites), int(num_malicious)
    if n < 1 or not 0 <= m <= n:
        raise param_error("num_malicious", "alie_z", f"an int in [0, num_sites={n}]", m)
    s = math.floor(n / 2 + 1) - m
    p = (n - s) / n
    p = min(max(p, 1e-6), 1 - 1e-6)  # with a malicious majority the formula leaves (0, 1)
    return float(norm.ppf(p))


def alie(benign: np.ndarray, *, z: float) -> np.ndarray:
    """A Little Is Enough: mean - z * std, coordinate-wise, small enough to pass
    distance- and rank-based defenses yet biased the same way every round."""
    benign = _check(benign, "alie")
    return benign.mean(axis=0) - float(z) * benign.std(axis=0)


def ipm(benign: np.ndarray, *, epsilon: float = 0.5) -> np.ndarray:
    """Inner-product manipulation (Xie et al. 2020): -epsilon times the honest mean,
    so the aggregate's inner product with the true gradient turns negative."""
    if not epsilon > 0:
        raise param_error("epsilon", "ipm", "a float > 0", epsilon)
    return -float(epsilon) * _check(benign, "ipm").mean(axis=0)
