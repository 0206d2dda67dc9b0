from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer

from fedshield.data import dirichlet_label_split, load_dataset
from fedshield.data.preprocess import site_seed, split_indices, standardize


@pytest.fixture(scope="module")
def bc():
    return load_dataset("breast-cancer")


def test_layout(bc) -> None:
    assert bc.num_sites == 5 and bc.input_shape == (30,) and bc.pooled_test is None
    assert len(bc.feature_names) == 30
    assert sum(s.num_train + s.num_test for s in bc.sites) == 569
    assert all(s.num_train + s.num_test >= 10 for s in bc.sites)
    y = np.concatenate([np.concatenate([s.y_train, s.y_test]) for s in bc.sites])
    assert int(y.sum()) == 212  # 1 = malignant
    x, yt = bc.pooled_test_or_concat()
    assert x.shape[1] == 30 and x.shape[0] == yt.shape[0] == sum(s.num_test for s in bc.sites)


def test_standardized_with_federation_train_statistics_only(bc) -> None:
    # Rebuild each site's raw rows with the same seeded steps, then check that both
    # splits were scaled with the pooled *train* mean/std and nothing else.
    bunch = load_breast_cancer()
    raw, y = bunch.data, (bunch.target == 0).astype(np.int64)
    parts = dirichlet_label_split(y, num_sites=5, alpha=0.5, seed=0, min_per_site=10)
    splits = [split_indices(y[rows], test_size=0.25, seed=site_seed(0, i)) for i, rows in enumerate(parts)]
    pooled = np.concatenate([raw[rows][tr] for rows, (tr, _) in zip(parts, splits, strict=True)])
    mean, std = pooled.mean(axis=0), pooled.std(axis=0)
    for s, rows, (tr, te) in zip(bc.sites, parts, splits, strict=True):
        np.testing.assert_allclose(s.x_train, (raw[rows][tr] - mean) / std, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(s.x_test, (raw[rows][te] - mean) / std, rtol=1e-4, atol=1e-4)
        np.testing.assert_array_equal(s.y_test, y[rows][te])
    np.testing.assert_allclose(np.concatenate([s.x_train for s in bc.sites]).mean(axis=0), 0, atol=1e-4)


def test_federated_moments_match_pooled() -> None:
    from fedshield.data.preprocess import federated_moments

    rng = np.random.default_rng(0)
    parts = [rng.normal(3, 2, size=(n, 4)) for n in (5, 17, 1)]
    parts[0][:, 3] = parts[1][:, 3] = parts[2][:, 3] = 7.0  # constant feature: scale 1
    mean, scale = federated_moments(parts)
    pooled = np.concatenate(parts)
    np.testing.assert_allclose(mean, pooled.mean(axis=0))
    np.testing.assert_allclose(scale[:3], pooled.std(axis=0)[:3])
    assert scale[3] == 1.0


def test_standardize_ignores_test_rows() -> None:
    rng = np.random.default_rng(0)
    x_tr, x_te = rng.normal(5, 3, (50, 4)), rng.normal(5, 3, (20, 4))
    a_tr, a_te = standardize(x_tr, x_te)
    b_tr, _ = standardize(x_tr, x_te * 100)
    np.testing.assert_array_equal(a_tr, b_tr)
    np.testing.assert_allclose(a_te, (x_te - x_tr.mean(0)) / x_tr.std(0), rtol=1e-5)
    const_tr, const_te = standardize(np.ones((5, 1)), np.full((2, 1), 3.0))
    assert const_tr.tolist() == [[0.0]] * 5 and const_te.tolist() == [[2.0]] * 2


def test_determinism() -> None:
    a, b, c = (load_dataset("breast-cancer", seed=s) for s in (4, 4, 5))
    assert all(np.array_equal(x.x_train, y.x_train) for x, y in zip(a.sites, b.sites, strict=True))
    assert [s.num_train for s in a.sites] != [s.num_train for s in c.sites]


def test_num_sites_and_alpha() -> None:
    ds = load_dataset("breast-cancer", num_sites=3, alpha=100.0)
    assert ds.num_sites == 3 and ds.site_ids == ("site-0", "site-1", "site-2")
