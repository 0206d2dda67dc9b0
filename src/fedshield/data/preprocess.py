"""Per-site train/test splitting and standardization.

Why per site: in a real federation a site only ever sees its own rows, so any
statistic computed over the pooled data (a global mean, a global scaler)
leaks information across sites and makes simulated results optimistic.
Every site is therefore standardized with the mean/std of its *own training
split*, and its test split reuses those training statistics.
"""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import train_test_split

__all__ = ["site_seed", "split_indices", "standardize"]


def site_seed(seed: int, site_index: int) -> int:
    """An independent, reproducible 32-bit seed for one site's local split."""
    return int(np.random.SeedSequence([seed, site_index]).generate_state(1)[0])


def split_indices(
    labels: np.ndarray,
    *,
    test_size: float,
    seed: int,
    train_size: float | None = None,
    stratify_min: int = 2,
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded shuffle split of ``range(len(labels))``, stratified when feasible.

    Stratification needs at least ``stratify_min`` rows of every class and
    room for every class on both sides; tiny or one-class sites fall back to
    a plain shuffled split rather than failing.
    """
    labels = np.asarray(labels).ravel()
    idx = np.arange(labels.shape[0])
    classes, counts = np.unique(labels, return_counts=True)
    stratify = labels if classes.size > 1 and counts.min() >= stratify_min else None
    try:
        tr, te = train_test_split(
            idx, test_size=test_size, train_size=train_size, random_state=seed, shuffle=True, stratify=stratify
        )
    except ValueError:
        # A split too small to hold every class on both sides.
        tr, te = train_test_split(
            idx, test_size=test_size, train_size=train_size, random_state=seed, shuffle=True, stratify=None
        )
    return np.asarray(tr), np.asarray(te)


def standardize(
    x_train: np.ndarray, x_test: np.ndarray, *, ddof: int = 0, eps: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """z-score both splits with the *training* split's mean and std.

    A feature constant in the training split (std 0) is only centred: dividing
    by ~0 would turn any different test value into an enormous outlier.
    """
    x_train = np.asarray(x_train, dtype=np.float64)
    x_test = np.asarray(x_test, dtype=np.float64)
    mean = x_train.mean(axis=0)
    std = x_train.std(axis=0, ddof=ddof) if x_train.shape[0] > ddof else np.zeros_like(mean)
    scale = np.where(std > 0, std + eps, 1.0)
    return ((x_train - mean) / scale).astype(np.float32), ((x_test - mean) / scale).astype(np.float32)


def federated_moments(site_train: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Pooled mean and scale from per-site (count, sum, sum of squares) only.

    These three sufficient statistics are all a site contributes (in deployment
    through a secure sum), so the pooled z-score never needs pooled rows.
    A feature constant across the federation gets scale 1 (centred only).
    """
    count = sum(a.shape[0] for a in site_train)
    if count == 0:
        raise ValueError("federated_moments needs at least one training row")
    total = sum(np.asarray(a, np.float64).sum(axis=0) for a in site_train)
    squares = sum((np.asarray(a, np.float64) ** 2).sum(axis=0) for a in site_train)
    mean = total / count
    var = np.maximum(squares / count - mean**2, 0.0)
    std = np.sqrt(var)
    return mean, np.where(std > 1e-12 * np.maximum(1.0, np.abs(mean)), std, 1.0)
