"""``[adversarial_training]`` in a scenario: per-site opt-in, units, and refusals at load/build time."""

import numpy as np
import pytest

from fedshield.client.adversarial_training import AdversarialTrainer
from fedshield.config import validate_scenario
from fedshield.errors import ConfigError
from fedshield.simulation import build_federation, simulate


def _scenario(**at):
    return validate_scenario({"rounds": 2, "data": {"dataset": "breast-cancer", "num_sites": 3},
                              "client": {"local_steps": 3}, "adversarial_training": at})


def _trainers(fed):
    return {s.site_id: s.local_trainer for s in fed.sites}


def test_sites_opt_in_and_out_with_their_own_budget():
    sc = _scenario(enabled=True, eps=0.1, steps=2,
                   sites={"site-1": {"enabled": False}, "site-2": {"eps": 0.3, "adversarial_weight": 0.5}})
    trainers = _trainers(build_federation(sc))
    assert not isinstance(trainers["site-1"], AdversarialTrainer)
    a0, a2 = trainers["site-0"], trainers["site-2"]
    assert (a0.config.eps, a0.config.steps, a0.config.adversarial_weight, a0.config.clip) == (0.1, 2, 1.0, None)
    assert (a2.config.eps, a2.config.adversarial_weight) == (0.3, 0.5)


def test_off_by_default_and_a_single_site_can_opt_in():
    assert not any(isinstance(t, AdversarialTrainer) for t in _trainers(build_federation(_scenario())).values())
    trainers = _trainers(build_federation(_scenario(sites={"site-0": {"enabled": True}})))
    assert [k for k, t in trainers.items() if isinstance(t, AdversarialTrainer)] == ["site-0"]


def test_adversarial_training_changes_the_model_and_replays_exactly():
    plain = simulate(_scenario()).final_parameters
    runs = [simulate(_scenario(enabled=True, eps=0.25)).final_parameters for _ in range(2)]
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.allclose(runs[0], plain)


def test_a_misspelt_site_is_refused_before_training():
    with pytest.raises(ConfigError, match=r"adversarial_training.sites.*site-9.*its sites are"):
        build_federation(_scenario(enabled=True, sites={"site-9": {"enabled": False}}))


@pytest.mark.parametrize("bad, words", [({"eps": 0}, "adversarial_training.eps"),
                                        ({"adversarial_weight": 1.5}, "adversarial_weight"),
                                        ({"epsilon": 2}, "unknown key 'adversarial_training.epsilon'")])
def test_bad_values_are_refused_at_load(bad, words):
    with pytest.raises(ConfigError, match=words):
        _scenario(enabled=True, **bad)


def test_refused_with_sample_level_dp():
    with pytest.raises(ConfigError, match="cannot be combined with privacy.mode = 'sample'"):
        validate_scenario({"privacy": {"mode": "sample"}, "adversarial_training": {"enabled": True}})


def test_image_eps_is_in_255ths(shared_data_dir):
    sc = validate_scenario({"rounds": 1, "data": {"dataset": "pneumonia", "data_dir": str(shared_data_dir),
                                                  "num_sites": 2}, "model": {"name": "cnn"},
                            "adversarial_training": {"enabled": True, "eps": 8}})
    t = _trainers(build_federation(sc))["site-0"]
    assert t.config.eps == pytest.approx(8 / 255) and t.config.clip == (0.0, 1.0)


def test_a_network_site_applies_its_own_entry():
    from functools import partial

    from fedshield.data import load_dataset
    from fedshield.models import create_model
    from fedshield.simulation import build_network_site

    sc = _scenario(sites={"site-1": {"enabled": True, "eps": 0.2}})
    ds = load_dataset("breast-cancer", num_sites=3)
    factory = partial(create_model, "logistic", input_shape=ds.input_shape, seed=0)
    one = build_network_site(sc, ds, "site-1", factory)
    other = build_network_site(sc, ds, "site-0", factory)
    assert isinstance(one.local_trainer, AdversarialTrainer) and one.local_trainer.config.eps == 0.2
    assert not isinstance(other.local_trainer, AdversarialTrainer)
    with pytest.raises(ConfigError, match="site-7"):
        build_network_site(_scenario(sites={"site-7": {"enabled": True}}), ds, "site-0", factory)
