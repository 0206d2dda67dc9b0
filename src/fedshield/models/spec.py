"""Model parameters, checked when a scenario is loaded (without importing torch), so
a misspelt key or an impossible width fails before round 1 with the fix, not as a
torch error inside the first site's constructor."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fedshield.errors import ConfigError, param_error


def _int_at_least(lo: int) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= lo


# name -> parameter -> (valid?, what it must be)
MODEL_PARAMS: dict[str, dict[str, tuple[Callable[[Any], bool], str]]] = {
    "logistic": {},
    "mlp": {
        "hidden_units": (_int_at_least(1), "an int >= 1"),
        "dropout": (lambda v: isinstance(v, int | float) and 0 <= v < 1, "a float in [0, 1)"),
    },
    "cnn": {
        # GroupNorm(8, channels): the width must split into 8 groups
        "channels": (lambda v: _int_at_least(8)(v) and v % 8 == 0, "a multiple of 8 (8, 16, 32, 48, ...)"),
    },
}


def check_model_params(name: str, params: dict[str, Any]) -> None:
    rules = MODEL_PARAMS.get(name)
    if rules is None:
        raise ConfigError(f"The 'model' parameter must be one of {sorted(MODEL_PARAMS)}. Got {name!r} instead.")
    for key, value in params.items():
        if key not in rules:
            allowed = sorted(rules) or "none"
            raise ConfigError(f"model {name!r} has no parameter {key!r}; its parameters: {allowed}.")
        ok, what = rules[key]
        if not ok(value):
            raise param_error(key, f"model {name!r}", what, value)
