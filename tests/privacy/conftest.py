"""Fixtures: a small Fed-Heart-Disease federation (2 rounds, few steps) to attach DP to."""

from __future__ import annotations

import warnings

import pytest


@pytest.fixture
def heart_federation(shared_data_dir):
    """``make(**overrides)`` -> a built federation; overrides merge into the scenario."""
    try:
        from fedshield.simulation import build_federation
    except ImportError as exc:  # a sibling package (aggregation, screening) not in this tree yet
        pytest.skip(f"fedshield.simulation is not importable here: {exc}")
    from fedshield.config import validate_scenario

    def make(**overrides):
        raw = {"seed": 42, "rounds": 2, "data": {"dataset": "heart-disease", "data_dir": str(shared_data_dir)},
               "model": {"name": "logistic"}, "client": {"local_steps": 5, "batch_size": 4, "learning_rate": 0.05}}
        for key, value in overrides.items():
            raw[key] = {**raw[key], **value} if isinstance(value, dict) and key in raw else value
        return build_federation(validate_scenario(raw))

    return make


@pytest.fixture(autouse=True)
def _quiet_expected_warnings():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*not suitable for production.*")
        warnings.filterwarnings("ignore", message=".*Secure RNG turned off.*")
        warnings.filterwarnings("ignore", message=".*Full backward hook.*")
        yield
