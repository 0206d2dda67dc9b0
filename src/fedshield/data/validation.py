"""Checks shared by the loaders, so every bad input fails the same clear way.

Why a module of its own: data errors surface far from their cause (a NaN in a
CSV becomes a NaN loss twenty rounds later). Failing at load time, naming the
file, row and column and saying how to fix it, is much cheaper to debug.
"""

from __future__ import annotations

import math
from numbers import Integral, Real
from pathlib import Path
from typing import Any

import numpy as np

from fedshield.errors import DataError, param_error

__all__ = [
    "check_num_sites",
    "check_alpha",
    "check_seed",
    "check_min_per_site",
    "check_npz_keys",
    "check_array",
    "check_finite",
    "check_binary_labels",
]


def check_num_sites(num_sites: Any, owner: str, *, minimum: int = 1) -> int:
    if isinstance(num_sites, bool) or not isinstance(num_sites, Integral) or num_sites < minimum:
        raise param_error("num_sites", owner, f"an int >= {minimum}", num_sites)
    return int(num_sites)


def check_alpha(alpha: Any, owner: str) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, Real) or not math.isfinite(alpha) or alpha <= 0:
        raise param_error("alpha", owner, "a finite float > 0 (smaller = more label skew)", alpha)
    return float(alpha)


def check_seed(seed: Any, owner: str) -> int:
    if isinstance(seed, bool) or not isinstance(seed, Integral) or seed < 0:
        raise param_error("seed", owner, "an int >= 0", seed)
    return int(seed)


def check_min_per_site(min_per_site: Any, owner: str) -> int:
    if isinstance(min_per_site, bool) or not isinstance(min_per_site, Integral) or min_per_site < 0:
        raise param_error("min_per_site", owner, "an int >= 0", min_per_site)
    return int(min_per_site)


def check_npz_keys(files: list[str] | tuple[str, ...], required: tuple[str, ...], path: Path) -> None:
    missing = [k for k in required if k not in files]
    if missing:
        raise DataError(
            f"{path} lacks the array(s) {missing} (it holds {sorted(files)}). "
            f"Expected the MedMNIST layout with keys {list(required)}; "
            "re-download the file (download=True) or point data_dir at an intact copy."
        )


def check_array(arr: np.ndarray, *, name: str, path: Path, tail: tuple[int, ...], kinds: str = "uif") -> None:
    """Check shape ``(N, *tail)`` with N >= 1 and dtype kind ('u' uint, 'i' int, 'f' float)."""
    if arr.ndim != len(tail) + 1 or tuple(arr.shape[1:]) != tuple(tail):
        want = "(N" + "".join(f", {t}" for t in tail) + ")"
        raise DataError(
            f"{path}: array {name!r} has shape {arr.shape}, expected {want}. "
            "The file is not in the expected format; re-download it or fix the array."
        )
    if arr.dtype.kind not in kinds:
        raise DataError(
            f"{path}: array {name!r} has dtype {arr.dtype}, expected a numeric dtype "
            "(unsigned/signed int or float). Re-download the file or convert the array."
        )
    if arr.shape[0] == 0:
        raise DataError(f"{path}: array {name!r} is empty; expected at least one example.")


def check_finite(arr: np.ndarray, *, name: str, source: str | Path, row_offset: int = 0) -> None:
    """Reject NaN/inf, naming the first offending rows so the user can find them."""
    if arr.dtype.kind != "f":
        return
    bad_mask = ~np.isfinite(arr.reshape(arr.shape[0], -1)).all(axis=1)
    if bad_mask.any():
        rows = (np.flatnonzero(bad_mask)[:5] + row_offset).tolist()
        raise DataError(
            f"{source}: {name} holds NaN or infinite values in {int(bad_mask.sum())} row(s), "
            f"first at row(s) {rows}. Remove or impute those rows before loading."
        )


def check_binary_labels(y: np.ndarray, *, name: str, source: str | Path) -> None:
    bad = ~np.isin(y, (0, 1))
    if bad.any():
        first = int(np.flatnonzero(bad.ravel())[0])
        raise DataError(
            f"{source}: {name} must hold binary labels 0/1, but row {first} holds "
            f"{y.ravel()[first]!r} (values present: {np.unique(y).tolist()[:10]}). "
            "Use the binary version of the dataset or map labels to 0/1."
        )
