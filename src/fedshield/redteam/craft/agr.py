"""Optimised attacks: Shejwalkar & Houmansadr (NDSS 2021) min-max / min-sum and
Fang et al. (USENIX Security 2020) full-knowledge attack on trimmed mean/median.

Min-max and min-sum are aggregator-agnostic: they push the crafted update as
far along a harmful direction as it can go while staying no farther from the
honest updates than the honest updates are from each other.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from fedshield.errors import param_error
from fedshield.redteam.craft.basic import _check

PERTURBATIONS = ("std", "unit_vec", "sign")


def perturbation(benign: np.ndarray, *, kind: str = "std") -> np.ndarray:
    """The harmful direction p: -std, -mean/||mean|| ('unit_vec') or -sign(mean)."""
    benign = _check(benign, "perturbation")
    mu = benign.mean(axis=0)
    if kind == "std":
        return -benign.std(axis=0)
    if kind == "unit_vec":
        return -mu / max(float(np.linalg.norm(mu)), 1e-12)
    if kind == "sign":
        return -np.sign(mu)
    raise param_error("perturbation", "min_max/min_sum", f"one of {list(PERTURBATIONS)}", kind)


def _sq_dists(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.maximum(d, 0.0)


def _search_gamma(ok: Callable[[float], bool], *, gamma_init: float, tol: float) -> float:
    """Shejwalkar's halving search for the largest gamma that ``ok`` accepts."""
    gamma, step, best = float(gamma_init), float(gamma_init) / 2, 0.0
    while abs(gamma - best) > tol:
        if ok(gamma):
            best = gamma
            gamma += step
        else:
            gamma -= step
        step /= 2
    return best


def min_max(benign: np.ndarray, *, kind: str = "std", gamma_init: float = 10.0, tol: float = 1e-5) -> np.ndarray:
    """mu + gamma p with the largest gamma such that the crafted update's farthest
    honest update is no farther than the two farthest honest updates."""
    benign = _check(benign, "min_max")
    mu, p = benign.mean(axis=0), perturbation(benign, kind=kind)
    bound = float(_sq_dists(benign, benign).max())

    def ok(gamma: float) -> bool:
        return float(_sq_dists((mu + gamma * p)[None], benign).max()) <= bound

    return mu + _search_gamma(ok, gamma_init=gamma_init, tol=tol) * p


def min_sum(benign: np.ndarray, *, kind: str = "std", gamma_init: float = 10.0, tol: float = 1e-5) -> np.ndarray:
    """mu + gamma p with the largest gamma such that the crafted update's sum of
    squared distances to the honest ones is at most any honest update's."""
    benign = _check(benign, "min_sum")
    mu, p = benign.mean(axis=0), perturbation(benign, kind=kind)
    bound = float(_sq_dists(benign, benign).sum(axis=1).max())

    def ok(gamma: float) -> bool:
        return float(_sq_dists((mu + gamma * p)[None], benign).sum()) <= bound

    return mu + _search_gamma(ok, gamma_init=gamma_init, tol=tol) * p


def fang_trim(benign: np.ndarray, *, num_malicious: int, rng: np.random.Generator, b: float = 2.0) -> np.ndarray:
    """Fang et al.'s full-knowledge attack on trimmed mean / median, one row per attacker.

    s_j is the direction coordinate j would move without attack; each attacker
    draws its value beyond the honest extreme on the opposite side: in
    [w_max, b w_max] (or [w_max / b, w_max] when w_max <= 0) where s_j < 0, and in
    [w_min / b, w_min] (or [b w_min, w_min] when w_min <= 0) where s_j > 0.
    """
    benign = _check(benign, "fang_trim")
    if not b > 1:
        raise param_error("b", "fang_trim", "a float > 1", b)
    s = np.sign(benign.mean(axis=0))
    w_max, w_min = benign.max(axis=0), benign.min(axis=0)
    # push up where the honest direction is down (s <= 0), down where it is up
    up_lo = np.where(w_max > 0, w_max, w_max / b)
    up_hi = np.where(w_max > 0, b * w_max, w_max)
    dn_lo = np.where(w_min > 0, w_min / b, b * w_min)
    dn_hi = np.where(w_min > 0, w_min, w_min)
    lo = np.where(s > 0, dn_lo, up_lo)
    hi = np.where(s > 0, dn_hi, up_hi)
    u = rng.random(size=(int(num_malicious), benign.shape[1]))
    return lo[None] + u * (hi - lo)[None]
