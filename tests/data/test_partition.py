from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fedshield.data import dirichlet_label_split
from fedshield.errors import ConfigError

LABELS = np.array([0] * 120 + [1] * 380)


def test_every_index_exactly_once() -> None:
    parts = dirichlet_label_split(LABELS, num_sites=5, alpha=0.5, seed=3)
    allidx = np.concatenate(parts)
    assert len(parts) == 5
    assert np.array_equal(np.sort(allidx), np.arange(LABELS.size))
    assert all(np.all(np.diff(p) > 0) for p in parts)


def test_same_seed_same_split_other_seed_differs() -> None:
    a = dirichlet_label_split(LABELS, num_sites=4, alpha=0.3, seed=7)
    b = dirichlet_label_split(LABELS, num_sites=4, alpha=0.3, seed=7)
    c = dirichlet_label_split(LABELS, num_sites=4, alpha=0.3, seed=8)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c, strict=True))


def test_min_per_site_respected() -> None:
    for seed in range(5):
        parts = dirichlet_label_split(LABELS, num_sites=6, alpha=0.1, seed=seed, min_per_site=20)
        assert min(p.size for p in parts) >= 20


def test_small_alpha_gives_more_skew_than_large() -> None:
    def skew(alpha: float) -> float:
        parts = dirichlet_label_split(LABELS, num_sites=5, alpha=alpha, seed=0, min_per_site=1)
        return float(np.std([LABELS[p].mean() for p in parts]))

    assert skew(0.05) > skew(100.0)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"num_sites": 0, "alpha": 0.5, "seed": 0},
        {"num_sites": 2, "alpha": 0.0, "seed": 0},
        {"num_sites": 2, "alpha": float("nan"), "seed": 0},
        {"num_sites": 2, "alpha": 0.5, "seed": -1},
        {"num_sites": 100, "alpha": 0.5, "seed": 0, "min_per_site": 10},
    ],
)
def test_bad_parameters_raise_config_error(kwargs: dict) -> None:
    with pytest.raises(ConfigError):
        dirichlet_label_split(LABELS, **kwargs)


@settings(max_examples=25, deadline=None)
@given(
    n0=st.integers(0, 60),
    n1=st.integers(1, 60),
    k=st.integers(1, 6),
    alpha=st.floats(0.05, 50.0),
    seed=st.integers(0, 2**31),
)
def test_partition_property(n0: int, n1: int, k: int, alpha: float, seed: int) -> None:
    labels = np.random.default_rng(seed).permutation(np.array([0] * n0 + [1] * n1))
    parts = dirichlet_label_split(labels, num_sites=k, alpha=alpha, seed=seed, min_per_site=0)
    assert np.array_equal(np.sort(np.concatenate(parts)), np.arange(labels.size))
