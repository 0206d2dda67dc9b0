"""Plain, obviously-correct numpy versions of every rule, straight from the papers.

Why: the fast kernels use Gram-matrix algebra and sorting networks; these
references use explicit float64 loops over the definitions so the tests and
``benchmarks/aggregators.py`` can check the kernels against something easy to
audit. They are slow (O(n^2 d) memory traffic) and meant for small inputs.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "ref_weighted_mean",
    "ref_median",
    "ref_trimmed_mean",
    "ref_krum_scores",
    "ref_krum",
    "ref_multi_krum",
    "ref_bulyan",
    "ref_geometric_median",
    "ref_centered_clipping",
    "ref_nnm",
    "ref_bucketing",
    "ref_arc",
    "ref_norm_bound",
    "ref_fltrust",
    "ref_foolsgold",
]


def _f64(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def _pairwise_sq(x: np.ndarray) -> np.ndarray:
    n = len(x)
    out = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            out[i, j] = np.sum((x[i] - x[j]) ** 2)
    return out


def ref_weighted_mean(x, w):
    x, w = _f64(x), _f64(w)
    return (w[:, None] * x).sum(axis=0) / w.sum()


def ref_median(x):
    return np.median(_f64(x), axis=0)


def ref_trimmed_mean(x, f):
    s = np.sort(_f64(x), axis=0)
    return s[f:len(s) - f].mean(axis=0)


def ref_krum_scores(x, f):
    x = _f64(x)
    n = len(x)
    d2 = _pairwise_sq(x)
    scores = np.zeros(n)
    for i in range(n):
        others = sorted(d2[i, j] for j in range(n) if j != i)
        scores[i] = sum(others[: n - f - 2])
    return scores


def ref_krum(x, f):
    return _f64(x)[int(np.argmin(ref_krum_scores(x, f)))]


def ref_multi_krum(x, f, m=None):
    m = len(x) - f if m is None else m
    chosen = np.argsort(ref_krum_scores(x, f), kind="stable")[:m]
    return _f64(x)[chosen].mean(axis=0)


def ref_bulyan(x, f):
    x = _f64(x)
    n = len(x)
    remaining = list(range(n))
    chosen = []
    for _ in range(n - 2 * f):
        sub = x[remaining]
        r = len(remaining)
        k = min(max(r - f - 2, 1), r - 1)
        d2 = _pairwise_sq(sub)
        scores = [sum(sorted(d2[i, j] for j in range(r) if j != i)[:k]) for i in range(r)]
        chosen.append(remaining.pop(int(np.argmin(scores))))
    sel = x[chosen]
    beta = len(chosen) - 2 * f
    med = np.median(sel, axis=0)
    out = np.zeros(x.shape[1])
    for c in range(x.shape[1]):
        # beta values closest to the median; ties towards the smaller value
        col = sorted(sel[:, c], key=lambda v, m=med[c]: (abs(v - m), v))
        out[c] = np.mean(col[:beta])
    return out


def ref_geometric_median(x, w=None, max_iter=100, ftol=1e-6, nu=1e-6):
    x = _f64(x)
    a = np.ones(len(x)) if w is None else _f64(w)
    a = a / a.sum()
    z = (a[:, None] * x).sum(axis=0)

    def obj(z):
        return float(sum(a[i] * np.linalg.norm(z - x[i]) for i in range(len(x))))

    value = obj(z)
    for _ in range(max_iter):
        b = np.array([a[i] / max(nu, np.linalg.norm(z - x[i])) for i in range(len(x))])
        z = (b[:, None] * x).sum(axis=0) / b.sum()
        prev, value = value, obj(z)
        if abs(prev - value) <= ftol * value:
            break
    return z


def ref_centered_clipping(x, tau=None, n_iter=3, centre=None):
    x = _f64(x)
    v = np.median(x, axis=0) if centre is None else _f64(centre)
    if tau is None:
        tau = float(np.median([np.linalg.norm(xi - v) for xi in x]))
    for _ in range(n_iter):
        step = np.zeros_like(v)
        for xi in x:
            u = xi - v
            nu = np.linalg.norm(u)
            step += u * (min(1.0, tau / nu) if nu > 0 else 1.0)
        v = v + step / len(x)
    return v


def ref_nnm(x, f):
    x = _f64(x)
    n = len(x)
    out = np.zeros_like(x)
    for i in range(n):
        d = [(0.0 if j == i else np.sum((x[i] - x[j]) ** 2), 0 if j == i else 1, j) for j in range(n)]
        nearest = [j for _, _, j in sorted(d)[: n - f]]
        out[i] = x[nearest].mean(axis=0)
    return out


def ref_bucketing(x, w, s, rng):
    x = _f64(x)
    order = rng.permutation(len(x))
    buckets = [order[i:i + s] for i in range(0, len(x), s)]
    return np.array([x[b].mean(axis=0) for b in buckets]), np.array([_f64(w)[b].sum() for b in buckets])


def ref_arc(x, f):
    x = _f64(x)
    n = len(x)
    k = int(math.floor(2 * (f / n) * (n - f)))
    norms = np.linalg.norm(x, axis=1)
    order = np.argsort(norms, kind="stable")
    out = x.copy()
    if k > 0:
        thr = norms[order[n - k - 1]]
        for i in order[n - k:]:
            out[i] = x[i] * min(1.0, thr / norms[i])
    return out


def ref_norm_bound(x, max_norm):
    x = _f64(x)
    return np.array([xi * min(1.0, max_norm / np.linalg.norm(xi)) if np.linalg.norm(xi) > 0 else xi for xi in x])


def ref_fltrust(x, g0):
    x, g0 = _f64(x), _f64(g0)
    g0n = np.linalg.norm(g0)
    num = np.zeros_like(g0)
    total = 0.0
    for xi in x:
        ni = np.linalg.norm(xi)
        ts = max(0.0, float(xi @ g0) / (ni * g0n)) if ni > 0 else 0.0
        if ts > 0:
            num += ts * xi * (g0n / ni)
            total += ts
    return num / total if total > 0 else np.zeros_like(g0)


def ref_foolsgold(x, histories, kappa=1.0):
    x, h = _f64(x), _f64(histories)
    n = len(x)
    if n == 1:
        return x[0]
    cs = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            if i != j:
                ni, nj = np.linalg.norm(h[i]), np.linalg.norm(h[j])
                cs[i, j] = h[i] @ h[j] / (ni * nj) if ni > 0 and nj > 0 else 0.0
    v = cs.max(axis=1)
    for i in range(n):
        for j in range(n):
            if i != j and v[j] > v[i] and v[j] > 0:
                cs[i, j] *= v[i] / v[j]
    a = np.clip(1 - cs.max(axis=1), 0, 1)
    if a.max() <= 0:
        return x.mean(axis=0)
    a = a / a.max()
    a[a == 1] = 0.99
    rates = np.zeros(n)
    for i in range(n):
        rates[i] = 0.0 if a[i] == 0 else min(1.0, max(0.0, kappa * (math.log(a[i] / (1 - a[i])) + 0.5)))
    if rates.sum() <= 0:
        return x.mean(axis=0)
    return (rates[:, None] * x).sum(axis=0) / rates.sum()
