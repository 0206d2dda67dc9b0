import pytest

from fedshield.errors import ConfigError
from fedshield.privacy import PrivacyConfig, validate_privacy


@pytest.mark.parametrize("key,value", [
    ("epsilon", 0), ("epsilon", -1.0), ("delta", 0), ("delta", -1e-5), ("delta", 1.0),
    ("max_grad_norm", 0), ("clipping_norm", -0.1), ("noise_multiplier", 0),
])
def test_bad_values_are_refused_naming_the_key(key, value):
    with pytest.raises(ConfigError, match=f"privacy.{key}"):
        validate_privacy({"mode": "sample", key: value})


def test_unknown_keys_and_modes_are_refused():
    with pytest.raises(ConfigError, match="privacy.epsilonn"):
        validate_privacy({"epsilonn": 1.0})
    with pytest.raises(ConfigError, match="privacy.mode"):
        validate_privacy({"mode": "central"})
    with pytest.raises(ConfigError, match="privacy.accountant"):
        validate_privacy({"accountant": "moments"})
    with pytest.raises(ConfigError, match=r"privacy.sites.va.epsilon"):
        validate_privacy({"sites": {"va": {"epsilon": -2}}})


def test_adaptive_clipping_needs_server_noise():
    with pytest.raises(ConfigError, match="noise_placement"):
        validate_privacy({"mode": "client", "noise_placement": "distributed", "adaptive_clipping": {"enabled": True}})


def test_per_site_overrides_fall_back_to_the_default():
    cfg = validate_privacy({"epsilon": 2.0, "delta": 1e-5, "sites": {"va": {"epsilon": 0.5}, "hu": {"delta": 1e-6}}})
    assert cfg.budget_of("va") == (0.5, 1e-5)
    assert cfg.budget_of("hu") == (2.0, 1e-6)
    assert cfg.budget_of("other") == (2.0, 1e-5)


def test_config_is_frozen():
    cfg = PrivacyConfig()
    with pytest.raises(Exception):
        cfg.epsilon = 3.0  # type: ignore[misc]
    assert cfg.mode == "off"
