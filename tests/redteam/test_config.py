from pathlib import Path

import pytest

from fedshield.errors import ConfigError
from fedshield.redteam.attacks import validate_attack
from fedshield.redteam.config import load_redteam

from fedshield.redteam.defenses import defenses_available

needs_defenses = pytest.mark.skipif(not defenses_available(), reason="fedshield.aggregation/screening not built yet")

REPO = Path(__file__).resolve().parents[2]

pytestmark = needs_defenses


@pytest.mark.parametrize("name", ["redteam_pneumonia.toml", "redteam_heart.toml"])
def test_examples_load(name):
    scenario, red = load_redteam(REPO / "examples" / name)
    assert red.attacks[0] == "none" and "fedavg" in red.defenses
    assert scenario.data.dataset in ("pneumonia", "heart-disease")


def test_pneumonia_example_is_the_issue_setting():
    scenario, red = load_redteam(REPO / "examples" / "redteam_pneumonia.toml")
    assert (scenario.data.num_sites, scenario.data.alpha, red.malicious.count) == (20, 0.5, 4)


@pytest.mark.parametrize(("extra", "match"), [
    ("bogus = 1", "unknown key 'redteam.bogus'"),
    ('attack_params = { alie = { zz = 1 } }', "attack_params.alie.zz"),
    ('attack_params = { ipm = { epsilon = -1 } }', "epsilon"),
    ('attack_params = { alei = {} }', "Did you mean 'alie'"),
    ("attack_params = { backdoor = {} }", "needs the dataset"),
])
def test_bad_sections_fail_at_load_time(tiny_heart, extra, match):
    with pytest.raises(ConfigError, match=match):
        load_redteam(tiny_heart(extra=extra))


def test_unknown_defense_is_named(tiny_heart):
    with pytest.raises(ConfigError, match="Did you mean 'fedavg'"):
        load_redteam(tiny_heart(defenses='["fedavgg"]'))


def test_defense_f_is_bound_to_the_declared_attackers(tiny_heart):
    _, red = load_redteam(tiny_heart(defenses='["recommended"]'))
    from fedshield.redteam.defenses import resolve_defense

    bundle = resolve_defense("recommended", red.bundles, f=red.malicious.declared_f)
    assert bundle.aggregation.params["f"] == 1 and all(p["f"] == 1 for p in bundle.aggregation.pre)


def test_malicious_needs_sites_or_count(tiny_heart, shared_data_dir):
    body = """
    [data]
    dataset = "heart-disease"
    [redteam.malicious]
    sites = ["va"]
    count = 1
    """
    with pytest.raises(ConfigError, match="exactly one of 'sites'"):
        load_redteam(tiny_heart(body=body))


def test_missing_section_is_explained(tiny_heart):
    with pytest.raises(ConfigError, match=r"no \[redteam\] section"):
        load_redteam(tiny_heart(body='name = "x"\n'))


def test_attack_params_are_typed():
    assert validate_attack("min_max", {"perturbation": "unit_vec"}, dataset="pneumonia").perturbation == "unit_vec"
    with pytest.raises(ConfigError, match="perturbation"):
        validate_attack("min_max", {"perturbation": "bogus"}, dataset="pneumonia")
