"""Shared fixtures: the real data lives in ../shared/data (never in the repo)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

# Property tests draw the same examples on every run (CI must not go red by luck);
# HYPOTHESIS_PROFILE=explore draws fresh ones, to hunt for new counterexamples locally.
settings.register_profile("fedshield", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "fedshield"))

REPO = Path(__file__).resolve().parents[1]


def _shared_data_dir() -> Path:
    env = os.environ.get("FEDSHIELD_TEST_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    path = _shared_data_dir()
    if not (path / "uci-heart-disease").is_dir():
        pytest.fail(f"Test data not found at {path}; set FEDSHIELD_TEST_DATA to the shared/data folder.")
    return path


@pytest.fixture(autouse=True)
def _no_ambient_data_dir(monkeypatch):
    """A FEDSHIELD_DATA_DIR in the developer's shell must not change results."""
    monkeypatch.delenv("FEDSHIELD_DATA_DIR", raising=False)
