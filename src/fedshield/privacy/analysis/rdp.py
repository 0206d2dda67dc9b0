"""Renyi DP of the subsampled Gaussian (Mironov et al. 2019), via Opacus's analysis.

Why these orders: Google's dp-accounting default set, which reaches order 1024;
Opacus's own stops at 63 and over-reports epsilon at small budgets (large noise).
"""

from __future__ import annotations

import warnings
from functools import lru_cache

import numpy as np
from opacus.accountants.analysis import rdp as _rdp

ORDERS: tuple[float, ...] = tuple([1 + x / 10.0 for x in range(1, 100)] + list(range(11, 64)) + [128, 256, 512, 1024])


@lru_cache(maxsize=4096)
def _one_step(noise_multiplier: float, sample_rate: float, orders: tuple[float, ...]) -> np.ndarray:
    """RDP of one step; cached because the gate and calibration ask again and again."""
    curve = np.asarray(_rdp.compute_rdp(q=sample_rate, noise_multiplier=noise_multiplier, steps=1, orders=list(orders)))
    curve.setflags(write=False)
    return curve


def rdp_curve(history, *, orders=ORDERS) -> np.ndarray:
    """RDP at each order; composition is addition (so ``steps`` multiplies)."""
    total = np.zeros(len(orders))
    for noise_multiplier, sample_rate, steps in history:
        total += steps * _one_step(float(noise_multiplier), float(sample_rate), tuple(orders))
    return total


def epsilon(history, *, delta: float, orders=ORDERS) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "optimal order is the largest alpha": 1024 is far enough
        eps, _ = _rdp.get_privacy_spent(orders=list(orders), rdp=rdp_curve(history, orders=orders), delta=delta)
    return float(eps)
