import pytest

from fedshield.errors import ConfigError
from fedshield.server.sampling import UniformSampler

IDS = [f"site-{i}" for i in range(20)]


def test_full_participation_returns_every_site_in_order():
    assert UniformSampler().sample(IDS, 1) == IDS


def test_partial_participation_is_seeded_per_round():
    s = UniformSampler(fraction=0.25, seed=3)
    a, b = s.sample(IDS, 1), s.sample(IDS, 2)
    assert len(a) == 5 and len(set(a)) == 5 and set(a) <= set(IDS)
    assert a == UniformSampler(fraction=0.25, seed=3).sample(IDS, 1)  # a resumed server agrees
    assert a != b or s.sample(IDS, 3) != a


def test_min_sites_floor_and_bad_fraction():
    assert len(UniformSampler(fraction=0.01, min_sites=3).sample(IDS, 1)) == 3
    with pytest.raises(ConfigError, match="fraction_fit"):
        UniformSampler(fraction=0)
