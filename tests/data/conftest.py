from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """The real data folder (../shared/data from the repo root; present in CI too)."""
    assert SHARED_DATA.is_dir(), f"shared data folder missing at {SHARED_DATA}"
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _no_data_dir_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests must not depend on a FEDSHIELD_DATA_DIR set in the developer's shell."""
    monkeypatch.delenv("FEDSHIELD_DATA_DIR", raising=False)
