import pytest

from fedshield.config import load_scenario, validate_scenario
from fedshield.errors import ConfigError


def test_default_scenario_is_breast_cancer_five_sites():
    sc = load_scenario(None)
    assert sc.data.dataset == "breast-cancer" and sc.rounds >= 1


def test_unknown_key_is_named(tmp_path):
    p = tmp_path / "s.toml"
    p.write_text('rounds = 3\n[client]\nlearning_rat = 0.1\n')
    with pytest.raises(ConfigError, match=r"unknown key 'client.learning_rat'"):
        load_scenario(p)


def test_literal_lists_allowed_values():
    with pytest.raises(ConfigError, match=r"'server.optimizer' key must be one of 'fedavg', 'fedadam'.*Got 'adam'"):
        validate_scenario({"server": {"optimizer": "adam"}})


@pytest.mark.parametrize("raw,key", [({"rounds": -1}, "rounds"), ({"client": {"learning_rate": 0}}, "client.learning_rate"),
                                     ({"data": {"alpha": -0.5}}, "data.alpha"), ({"seed": -2}, "seed")])
def test_out_of_range_values_are_refused_with_key_and_value(raw, key):
    with pytest.raises(ConfigError, match=f"'{key}' key: .*Got -?[0-9.]+ instead"):
        validate_scenario(raw)


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_scenario(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("rounds = = 3")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_scenario(bad)


def test_overrides_apply_and_are_validated():
    assert load_scenario(None, overrides={"rounds": 2, "seed": None}).rounds == 2
    with pytest.raises(ConfigError, match="'rounds' key"):
        load_scenario(None, overrides={"rounds": 0})


def test_examples_load():
    from pathlib import Path

    from fedshield.redteam.config import load_redteam

    examples = sorted((Path(__file__).parents[1] / "examples").glob("*.toml"))
    assert len(examples) >= 5
    for p in examples:
        if p.name.startswith("redteam_"):
            load_redteam(p)  # a scenario plus its [redteam] table
        else:
            load_scenario(p)


def test_the_commented_adversarial_training_example_is_valid():
    """The block a user uncomments in examples/pneumonia.toml must load as it is written."""
    import tomllib
    from pathlib import Path

    text = (Path(__file__).parents[1] / "examples" / "pneumonia.toml").read_text()
    block = text[text.index("# [adversarial_training]"):]
    raw = tomllib.loads(text) | tomllib.loads("\n".join(line.removeprefix("# ") for line in block.splitlines()))
    at = validate_scenario(raw).adversarial_training
    assert at.enabled and at.eps == 8 and at.settings_for("site-3") is None
    assert at.settings_for("site-0") == {"eps": 8, "steps": 3, "adversarial_weight": 0.5}


@pytest.mark.parametrize("model, match", [
    ({"name": "cnn", "params": {"channels": 12}}, "'channels' parameter of model 'cnn' must be a multiple of 8"),
    ({"name": "cnn", "params": {"chanels": 8}}, "has no parameter 'chanels'"),
    ({"name": "mlp", "params": {"dropout": 1.5}}, "'dropout' parameter of model 'mlp'"),
    ({"name": "logistic", "params": {"hidden_units": 4}}, "its parameters: none"),
])
def test_model_parameters_are_checked_at_load_time(model, match):
    # they used to surface as a torch error in the first site's constructor
    with pytest.raises(ConfigError, match=match):
        validate_scenario({"model": model})
    validate_scenario({"model": {"name": "cnn", "params": {"channels": 16}}})
