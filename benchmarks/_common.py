"""Helpers shared by the benchmark scripts (not part of the package)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def data_dir(cli_value: str | None) -> str:
    """--data-dir, else FEDSHIELD_DATA_DIR, else ../shared/data beside the repo."""
    path = cli_value or os.environ.get("FEDSHIELD_DATA_DIR") or str(REPO.parent / "shared" / "data")
    if not Path(path).is_dir():
        sys.exit(f"error: data folder {path!r} not found; pass --data-dir or set FEDSHIELD_DATA_DIR")
    return path


def headline(doc: dict) -> None:
    """Every benchmark ends with exactly one JSON line of headline figures."""
    print(json.dumps(doc, sort_keys=False), flush=True)
