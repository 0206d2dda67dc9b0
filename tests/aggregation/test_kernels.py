"""Every fast kernel equals the plain reference implementation of its definition."""

from __future__ import annotations

import numpy as np
import pytest

from fedshield.aggregation import kernels as K
from fedshield.aggregation import reference as R
from fedshield.errors import AggregationError, ConfigError

from ._helpers import honest_updates

SHAPES = [(5, 7), (11, 130), (16, 257), (23, 64), (50, 300)]


def _attacked(n: int, d: int, f: int, seed: int) -> np.ndarray:
    x = honest_updates(n, d, seed)
    rng = np.random.default_rng(seed + 100)
    x[rng.choice(n, size=f, replace=False)] = rng.normal(5.0, 10.0, (f, d)).astype(np.float32)
    return x


def close(a, b, rtol=2e-5, atol=2e-6):
    np.testing.assert_allclose(np.asarray(a, dtype=np.float64), b, rtol=rtol, atol=atol)


@pytest.mark.parametrize(("n", "d"), SHAPES)
def test_coordinate_rules_match_reference(n, d):
    x = _attacked(n, d, max(1, n // 5), seed=n)
    assert np.array_equal(K.coordinate_median(x), np.median(x, axis=0))
    for f in {0, 1, (n - 1) // 2}:
        close(K.trimmed_mean(x, f=f), R.ref_trimmed_mean(x, f))
    w = np.arange(1, n + 1, dtype=float)
    close(K.weighted_mean(x, w), R.ref_weighted_mean(x, w))


@pytest.mark.parametrize(("n", "d"), SHAPES)
def test_krum_family_matches_reference(n, d):
    f = max(0, (n - 3) // 2 - 1)
    x = _attacked(n, d, f, seed=2 * n)
    ref_idx = int(np.argmin(R.ref_krum_scores(x, f)))
    assert np.array_equal(K.krum(x, f=f), x[ref_idx])  # the same pick, bit for bit
    close(K.multi_krum(x, f=f), R.ref_multi_krum(x, f))
    close(K.multi_krum(x, f=f, m=2), R.ref_multi_krum(x, f, m=2))


@pytest.mark.parametrize(("n", "f"), [(3, 0), (7, 1), (11, 2), (19, 4), (23, 5)])
def test_bulyan_matches_reference(n, f):
    x = _attacked(n, 150, f, seed=n + f)
    close(K.bulyan(x, f=f), R.ref_bulyan(x, f), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("n", "d"), SHAPES)
def test_geometric_median_matches_reference(n, d):
    x = _attacked(n, d, max(1, n // 4), seed=3 * n)
    w = np.random.default_rng(n).uniform(1, 5, n)
    close(K.geometric_median(x, w), R.ref_geometric_median(x, w), rtol=1e-4, atol=1e-5)
    close(K.geometric_median(x, max_iter=2, ftol=0.0), R.ref_geometric_median(x, max_iter=2, ftol=0.0),
          rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(("n", "d"), SHAPES)
def test_centered_clipping_matches_reference(n, d):
    x = _attacked(n, d, max(1, n // 4), seed=5 * n)
    close(K.centered_clipping(x), R.ref_centered_clipping(x), rtol=1e-4, atol=1e-5)
    centre = x.mean(axis=0)
    close(K.centered_clipping(x, tau_l2=0.5, n_iter=4, centre=centre),
          R.ref_centered_clipping(x, tau=0.5, n_iter=4, centre=centre), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(("n", "d"), SHAPES)
def test_pre_aggregators_match_reference(n, d):
    f = (n - 1) // 3
    x = _attacked(n, d, f, seed=7 * n)
    close(K.nearest_neighbor_mixing(x, f=f), R.ref_nnm(x, f), rtol=1e-5, atol=1e-5)
    close(K.adaptive_robust_clipping(x, f=f), R.ref_arc(x, f), rtol=1e-5, atol=1e-6)
    close(K.norm_bound(x, max_norm_l2=3.0), R.ref_norm_bound(x, 3.0), rtol=1e-5, atol=1e-6)
    w = np.arange(1.0, n + 1)
    y, yw = K.bucketing(x, w, bucket_size=3, rng=np.random.default_rng(0))
    ry, rw = R.ref_bucketing(x, w, 3, np.random.default_rng(0))
    close(y, ry, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(yw, rw)


@pytest.mark.parametrize(("n", "d"), SHAPES)
def test_trust_rules_match_reference(n, d):
    x = _attacked(n, d, max(1, n // 4), seed=11 * n)
    g0 = np.median(x, axis=0)
    close(K.fltrust(x, reference=g0), R.ref_fltrust(x, g0), rtol=1e-4, atol=1e-6)
    hist = x + honest_updates(n, d, seed=99)
    close(K.foolsgold(x, histories=hist), R.ref_foolsgold(x, hist), rtol=1e-4, atol=1e-6)


def test_foolsgold_downweights_sybils():
    rng = np.random.default_rng(0)
    honest = rng.normal(size=(6, 80))
    sybil = np.tile(rng.normal(size=80) * 3, (4, 1)) + rng.normal(scale=0.01, size=(4, 80))
    x = np.vstack([honest, sybil]).astype(np.float32)
    rates = K.foolsgold_learning_rates(x)
    assert rates[6:].max() < 0.05 < rates[:6].min()


def test_fltrust_zero_trust_gives_zero_update():
    g0 = np.abs(honest_updates(1, 20)[0]) + 0.1
    opposed = -np.tile(g0, (5, 1)) * np.arange(1, 6)[:, None]  # every update points away from g0
    assert not np.any(K.fltrust(opposed.astype(np.float32), reference=g0))


def test_flame_drops_a_minority_cluster_and_clips():
    rng = np.random.default_rng(3)
    honest = rng.normal(size=(8, 60)) * 0.2 + 1.0
    attackers = np.tile(-rng.uniform(5, 6, 60), (3, 1))
    x = np.vstack([attackers, honest]).astype(np.float32)
    admitted = K.flame_admitted(np.clip(1 - _cos(x), 0, 2))
    assert set(admitted.tolist()) == set(range(3, 11))
    out = K.flame(x, noise_lambda=0.0)
    assert np.linalg.norm(out - honest.mean(axis=0)) < 0.5
    a = K.flame(x, rng=np.random.default_rng(1))
    b = K.flame(x, rng=np.random.default_rng(1))
    assert np.array_equal(a, b) and not np.array_equal(a, out)


def _cos(x):
    x = x.astype(np.float64)
    nrm = np.linalg.norm(x, axis=1)
    return (x @ x.T) / np.outer(nrm, nrm)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda x: K.krum(x[:5], f=2), "Krum needs n >= 2f + 3 updates; got n=5, f=2. Lower f or add sites."),
        (lambda x: K.multi_krum(x[:6], f=2), "Multi-Krum needs n >= 2f + 3"),
        (lambda x: K.bulyan(x[:10], f=2), "Bulyan needs n >= 4f + 3 updates; got n=10, f=2"),
        (lambda x: K.trimmed_mean(x[:4], f=2), "Trimmed mean needs n > 2f"),
        (lambda x: K.nearest_neighbor_mixing(x[:2], f=2), "NNM needs n > f"),
        (lambda x: K.adaptive_robust_clipping(x[:4], f=2), "ARC needs n > 2f"),
        (lambda x: K.fltrust(x, reference=None), "reference"),
        (lambda x: K.fltrust(x, reference=np.zeros(x.shape[1])), "non-zero"),
        (lambda x: K.flame(x[:2]), "at least 3"),
        (lambda x: K.flame(x, rng=None), "Generator"),
        (lambda x: K.coordinate_median(x[0]), "2-D array"),
        (lambda x: K.weighted_mean(x, np.zeros(len(x))), "positive sum"),
        (lambda x: K.centered_clipping(x, centre=np.zeros(3)), "centre"),
    ],
)
def test_preconditions_are_stated(call, message):
    with pytest.raises(AggregationError, match=message.replace("(", r"\(").replace(")", r"\)").replace("+", r"\+")):
        call(honest_updates(12, 9))


def test_bad_parameters_are_config_errors():
    x = honest_updates(12, 9)
    for call in (lambda: K.krum(x, f=-1), lambda: K.krum(x, f=1.5), lambda: K.norm_bound(x, max_norm_l2=0),
                 lambda: K.geometric_median(x, nu_l2=-1.0), lambda: K.centered_clipping(x, n_iter=0)):
        with pytest.raises(ConfigError, match="must be"):
            call()


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_named_by_row(bad):
    x = honest_updates(12, 300)
    x[4, 299] = bad
    kernels = [K.coordinate_median, lambda v: K.trimmed_mean(v, f=2), lambda v: K.krum(v, f=2),
               lambda v: K.bulyan(v, f=2), K.geometric_median, K.centered_clipping, K.weighted_mean,
               lambda v: K.nearest_neighbor_mixing(v, f=2), lambda v: K.adaptive_robust_clipping(v, f=2),
               lambda v: K.fltrust(v, reference=np.ones(300)), lambda v: K.flame(v, noise_lambda=0.0)]
    for kernel in kernels:
        with pytest.raises(AggregationError, match=r"rows \[4\]"):
            kernel(x)


def test_kernels_leave_input_alone_and_accept_other_dtypes():
    x = honest_updates(13, 40)
    frozen = x.copy()
    frozen.setflags(write=False)
    for kernel in (K.coordinate_median, K.geometric_median, K.centered_clipping,
                   lambda v: K.bulyan(v, f=2), lambda v: K.nearest_neighbor_mixing(v, f=3)):
        kernel(frozen)
    assert np.array_equal(frozen, x)
    assert K.coordinate_median(x.astype(np.float64)).dtype == np.float32
    assert K.coordinate_median(np.asfortranarray(x)).dtype == np.float32
    assert np.array_equal(K.coordinate_median(x[:, ::2]), np.median(x[:, ::2], axis=0))


@pytest.mark.parametrize(("n", "d"), [(1, 5), (3, 4097), (13, 1000), (50, 2100)])
def test_gram_precision_with_a_large_offset_and_huge_rows(n, d):
    from fedshield.aggregation._numeric import gram, sq_distances

    rng = np.random.default_rng(n)
    x = (1e3 + rng.normal(size=(n, d))).astype(np.float32)  # offset >> spread
    x[: n // 5] *= 1e4  # and some huge rows
    exact = x.astype(np.float64)
    ref = ((exact[:, None, :] - exact[None, :, :]) ** 2).sum(-1) if n * n * d < 3e7 else None
    g, finite = gram(x)
    assert finite
    if ref is not None:
        got = sq_distances(g)
        h = slice(n // 5, n)  # honest block: precise relative to its own spread
        np.testing.assert_allclose(got[h, h], ref[h, h], rtol=1e-5, atol=1e-3 * d)
        # huge rows: precise relative to their (huge) size, which is all Krum & co. need
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6 * ref.max())
