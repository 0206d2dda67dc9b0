import numpy as np

from fedshield.privacy.noise import GaussianNoise, secure_normal, secure_uniform


def test_secure_uniform_is_in_the_open_unit_interval():
    u = secure_uniform(50_000)
    assert 0 < u.min() and u.max() < 1
    assert abs(u.mean() - 0.5) < 0.01


def test_secure_normal_has_the_requested_std():
    x = secure_normal((200_000,), std=3.0)
    assert abs(x.mean()) < 0.05
    assert abs(x.std() - 3.0) < 0.05


def test_secure_source_is_not_reproducible_and_seeded_one_is():
    assert not np.array_equal(GaussianNoise(secure=True).normal((8,), std=1.0),
                              GaussianNoise(secure=True).normal((8,), std=1.0))
    assert np.array_equal(GaussianNoise(secure=False, seed=3).normal((8,), std=1.0),
                          GaussianNoise(secure=False, seed=3).normal((8,), std=1.0))
    assert not GaussianNoise(secure=True).normal((3,), std=0.0).any()
