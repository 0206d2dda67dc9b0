"""FoolsGold (Fung, Yoon & Beschastnikh 2020)."""

from __future__ import annotations

import numpy as np

from fedshield.aggregation._numeric import convex_combination, gram
from fedshield.aggregation._validation import as_updates, check_positive_float, raise_nonfinite, require

__all__ = ["foolsgold_learning_rates", "foolsgold"]


def foolsgold_learning_rates(histories: np.ndarray, *, kappa: float = 1.0) -> np.ndarray:
    """Per-client learning rates in [0, 1] from the clients' aggregate historical updates.

    Steps of the paper's Algorithm 1 (without the optional feature-importance
    weighting): cosine similarity cs between histories; v_i = max_j cs_ij;
    pardoning cs_ij *= v_i / v_j when v_j > v_i; a_i = 1 - max_j cs_ij clipped
    to [0, 1] and divided by its maximum; a_i = 0.99 where a_i = 1; finally the
    logit kappa * (ln(a/(1-a)) + 0.5) clipped to [0, 1]. Sybils that keep
    pushing the same direction get rates near 0. Returns all zeros when every
    client looks like a sybil of another (e.g. identical histories).
    """
    h = as_updates(histories, owner="foolsgold_learning_rates")
    kappa = check_positive_float(kappa, name="kappa", owner="foolsgold_learning_rates")
    n = h.shape[0]
    if n == 1:
        return np.ones(1)
    g, finite = gram(h, centre=None)
    if not finite:
        raise_nonfinite(h, owner="foolsgold_learning_rates")
    norms = np.sqrt(np.maximum(np.diag(g), 0.0))
    denom = np.outer(norms, norms)
    cs = np.divide(g, denom, out=np.zeros_like(g), where=denom > 0)
    np.fill_diagonal(cs, 0.0)
    v = cs.max(axis=1)
    for i in range(n):
        for j in range(n):
            if i != j and v[j] > v[i] and v[j] > 0:
                cs[i, j] *= v[i] / v[j]
    a = np.clip(1.0 - cs.max(axis=1), 0.0, 1.0)
    if a.max() <= 0:
        return np.zeros(n)
    a = a / a.max()
    a[a == 1.0] = 0.99
    with np.errstate(divide="ignore"):
        logit = kappa * (np.log(a / (1.0 - a)) + 0.5)
    logit[~np.isfinite(logit)] = 0.0  # a == 0 -> ln 0 = -inf -> rate 0
    return np.clip(logit, 0.0, 1.0)


def foolsgold(updates: np.ndarray, *, histories: np.ndarray, kappa: float = 1.0) -> np.ndarray:
    """Sum_i a_i x_i / Sum_i a_i with FoolsGold rates a from ``histories``.

    ``histories`` row i is client i's running sum of updates *including* this
    round's (the stateful rule object keeps it, keyed by client id). Uses
    weights: no. The normalisation makes an all-honest round the plain mean;
    if every rate is 0 the plain mean is returned too (nobody stands out).
    """
    x = as_updates(updates, owner="FoolsGold")
    require(
        histories.shape == x.shape,
        f"FoolsGold needs one history per update; got histories {histories.shape} for updates {x.shape}.",
    )
    rates = foolsgold_learning_rates(histories, kappa=kappa)
    if rates.sum() <= 0:
        rates = np.ones(x.shape[0])
    out = convex_combination(rates / rates.sum(), x)
    if not np.all(np.isfinite(out)):
        raise_nonfinite(x, owner="FoolsGold")
    return out
