"""Ledger fixtures: a coordinator key and small, deterministic signed ledgers.

Also makes ``ledger_testkit`` importable under any --import-mode.
"""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from ledger_testkit import build_ledger  # noqa: E402


@pytest.fixture(scope="session")
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture(scope="session")
def _pristine(tmp_path_factory, key) -> Path:
    return build_ledger(tmp_path_factory.mktemp("ledger") / "pristine.sqlite", key)


@pytest.fixture
def ledger(tmp_path, _pristine) -> Path:
    """A fresh copy of a 3-round ledger (1 + 3 * 10 entries, 3 signed heads)."""
    dst = tmp_path / "ledger.sqlite"
    src = sqlite3.connect(_pristine)
    out = sqlite3.connect(dst)
    src.backup(out)
    src.close()
    out.close()
    return dst
