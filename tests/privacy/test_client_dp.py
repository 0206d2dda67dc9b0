import numpy as np
import pytest

from fedshield.errors import ConfigError
from fedshield.privacy.client_dp import (
    DistributedNoiseTransform,
    DPFedAvgAggregator,
    clip_to_norm,
    update_noise_multiplier,
)
from fedshield.privacy.noise import GaussianNoise


def mean(updates, weights, *, client_ids, reference, rng):
    w = np.asarray(weights, float)
    return (updates * (w / w.sum())[:, None]).sum(0)


def _call(agg, updates, weights=None):
    weights = np.ones(len(updates)) if weights is None else weights
    return agg(updates.astype(np.float32), weights, client_ids=[str(i) for i in range(len(updates))],
               reference=None, rng=np.random.default_rng(0))


def test_clip_to_norm():
    clipped, norm = clip_to_norm(np.array([3.0, 4.0]), clipping_norm=1.0)
    assert norm == 5.0 and np.linalg.norm(clipped) == pytest.approx(1.0)
    small, _ = clip_to_norm(np.array([0.3, 0.4]), clipping_norm=1.0)
    assert np.allclose(small, [0.3, 0.4])


def test_without_noise_it_is_the_equal_weight_mean_of_clipped_updates():
    agg = DPFedAvgAggregator(mean, noise_multiplier=1e-12, clipping_norm=1.0, noise=GaussianNoise(secure=False, seed=0))
    ups = np.array([[10.0, 0.0], [0.0, 0.5]])
    out = _call(agg, ups, weights=np.array([1000.0, 1.0]))  # record counts must not weigh in
    assert np.allclose(out, [0.5, 0.25], atol=1e-6)


def test_server_noise_has_std_z_c_over_n():
    agg = DPFedAvgAggregator(mean, noise_multiplier=2.0, clipping_norm=0.5, noise=GaussianNoise(secure=False, seed=1))
    out = _call(agg, np.zeros((4, 20_000)))
    assert out.std() == pytest.approx(2.0 * 0.5 / 4, rel=0.03)
    assert agg.history[-1]["noise_std"] == pytest.approx(0.25)


def test_adaptive_clipping_tracks_the_target_quantile():
    agg = DPFedAvgAggregator(mean, noise_multiplier=0.5, clipping_norm=0.01, noise=GaussianNoise(secure=False, seed=2),
                             target_quantile=0.5, clip_learning_rate=0.2, count_noise_multiplier=1.0)
    norms = np.linspace(1.0, 3.0, 20)  # median 2
    ups = norms[:, None] * np.eye(20)
    for _ in range(200):
        _call(agg, ups)
    assert 1.4 < agg.clipping_norm < 2.6
    assert agg.update_noise_multiplier > 0.5  # part of the budget went to the count


def test_count_noise_too_small_is_refused_naming_the_key():
    with pytest.raises(ConfigError, match="count_noise_multiplier"):
        update_noise_multiplier(noise_multiplier=3.0, count_noise_multiplier=1.0)


def test_distributed_shares_sum_to_the_central_noise():
    m = 5
    shares = [DistributedNoiseTransform(noise_multiplier=2.0, clipping_norm=1.0, sites_per_round=m,
                                        noise=GaussianNoise(secure=False, seed=i)) for i in range(m)]
    total = sum(t(np.zeros(20_000, np.float32), round_num=1, num_examples=10) for t in shares)
    assert total.std() == pytest.approx(2.0, rel=0.03)
    clipped = shares[0](np.full(4, 100.0, np.float32), round_num=1, num_examples=10)
    assert np.linalg.norm(clipped) < 1.0 + 5 * 2.0 / np.sqrt(m) * 2
