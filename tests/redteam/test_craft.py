import numpy as np
import pytest
from scipy.stats import norm

from fedshield.errors import ConfigError
from fedshield.redteam import craft


@pytest.fixture
def benign():
    return np.random.default_rng(0).normal(size=(12, 50)) + 0.3


def test_alie_z_follows_baruch_formula():
    # n = 20, m = 4: s = floor(11) - 4 = 7, z = Phi^-1(13/20)
    assert craft.alie_z(num_sites=20, num_malicious=4) == pytest.approx(norm.ppf(0.65))
    # n = 50, m = 12 (the paper's example setting): s = 14, z = Phi^-1(36/50)
    assert craft.alie_z(num_sites=50, num_malicious=12) == pytest.approx(norm.ppf(0.72))


def test_alie_is_mean_minus_z_std(benign):
    out = craft.alie(benign, z=1.5)
    np.testing.assert_allclose(out, benign.mean(0) - 1.5 * benign.std(0))


def test_ipm_and_sign_flip(benign):
    np.testing.assert_allclose(craft.ipm(benign, epsilon=0.1), -0.1 * benign.mean(0))
    np.testing.assert_allclose(craft.sign_flip(benign[0], scale=2.0), -2.0 * benign[0])
    with pytest.raises(ConfigError, match="epsilon"):
        craft.ipm(benign, epsilon=0)


def test_gaussian_is_seeded():
    a = craft.gaussian(dim=10, sigma=2.0, rng=np.random.default_rng(1))
    b = craft.gaussian(dim=10, sigma=2.0, rng=np.random.default_rng(1))
    np.testing.assert_array_equal(a, b)


def _d2(x, ys):
    return ((ys - x) ** 2).sum(1)


@pytest.mark.parametrize("kind", ["std", "unit_vec", "sign"])
def test_min_max_is_the_largest_gamma_within_the_honest_diameter(benign, kind):
    mal = craft.min_max(benign, kind=kind)
    bound = max(_d2(g, benign).max() for g in benign)
    assert _d2(mal, benign).max() <= bound + 1e-9
    p = craft.perturbation(benign, kind=kind)
    gamma = (mal - benign.mean(0)) @ p / (p @ p)
    assert gamma > 0
    assert _d2(mal + 1e-3 * gamma * p, benign).max() > bound  # a little further breaks the bound


def test_min_sum_respects_the_sum_bound(benign):
    mal = craft.min_sum(benign)
    bound = max(_d2(g, benign).sum() for g in benign)
    assert _d2(mal, benign).sum() <= bound + 1e-9
    assert not np.allclose(mal, benign.mean(0))


def test_fang_pushes_every_coordinate_past_the_honest_extreme(benign):
    out = craft.fang_trim(benign, num_malicious=3, rng=np.random.default_rng(0))
    s = np.sign(benign.mean(0))
    assert out.shape == (3, 50)
    up, down = s <= 0, s > 0
    assert (out[:, up] >= benign.max(0)[up] - 1e-12).all()
    assert (out[:, down] <= benign.min(0)[down] + 1e-12).all()


def test_mimic_targets_the_outlying_honest_update():
    rng = np.random.default_rng(0)
    honest = rng.normal(scale=0.01, size=(8, 20))
    honest[5, 3] = 5.0
    z = None
    for _ in range(3):
        z = craft.mimic_direction(honest, previous=z, rng=rng)
    assert craft.mimic_target(honest, direction=z) == 5


def test_replacement_scale_is_n_over_eta():
    assert craft.replacement_scale(total_weight=20, malicious_weight=1, server_lr=1.0) == 20
    assert craft.replacement_scale(total_weight=20, malicious_weight=4, server_lr=0.5) == 10
    with pytest.raises(ConfigError, match="server_lr"):
        craft.replacement_scale(total_weight=20, malicious_weight=4, server_lr=0)
