"""Input checks shared by every rule.

Why: each rule states its preconditions and refuses bad input with a message
that says how to fix it; doing it in one place keeps the wording consistent.
Finiteness is *not* scanned here: kernels get it free from the pass that reads
the data (see ``_numeric``/``_sortnet``) and call ``raise_nonfinite`` after.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from fedshield.errors import AggregationError, ConfigError, param_error

__all__ = [
    "as_updates",
    "as_weights",
    "as_reference",
    "check_int",
    "check_positive_float",
    "check_client_ids",
    "raise_nonfinite",
    "require",
]


def _describe(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    return f"a {type(value).__name__}"


def as_updates(updates: Any, *, owner: str) -> np.ndarray:
    """(n, d) C-contiguous float32 view of ``updates``; copies only if it must."""
    if isinstance(updates, np.ndarray) and updates.dtype == np.float32 and updates.flags.c_contiguous:
        arr = updates
    else:
        try:
            arr = np.asarray(updates)
        except (TypeError, ValueError) as exc:
            raise param_error(
                "updates", owner, "an (n, d) array of floats (one row per site)", _describe(updates),
                cls=AggregationError,
            ) from exc
        if arr.dtype.kind not in "fiu" or arr.dtype == np.bool_:
            raise param_error(
                "updates", owner, "a real-valued (n, d) array (float32 preferred)", _describe(arr),
                cls=AggregationError,
            )
    if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise AggregationError(
            f"The 'updates' parameter of {owner} must be a 2-D array of shape (n, d) with n, d >= 1. "
            f"Got shape {arr.shape} instead. Stack one flattened update per site with np.stack."
        )
    if arr.dtype != np.float32 or not arr.flags.c_contiguous:
        arr = np.ascontiguousarray(arr, dtype=np.float32)
    return arr


def as_weights(weights: Any, n: int, *, owner: str, need_positive_sum: bool = False) -> np.ndarray:
    """float64 (n,) weights (example counts): finite and >= 0."""
    if weights is None:
        return np.ones(n, dtype=np.float64)
    try:
        w = np.asarray(weights, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise param_error("weights", owner, f"a 1-D array of {n} example counts", _describe(weights),
                          cls=AggregationError) from exc
    if w.shape != (n,):
        raise AggregationError(
            f"The 'weights' parameter of {owner} must be a 1-D array with one entry per update (n={n}). "
            f"Got shape {w.shape} instead."
        )
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise AggregationError(
            f"The 'weights' parameter of {owner} must hold finite, non-negative example counts. "
            f"Got {w.tolist()[:8]} instead."
        )
    if need_positive_sum and not w.sum() > 0:
        raise AggregationError(
            f"The 'weights' parameter of {owner} must have a positive sum. Got all zeros instead. "
            "Give each site its number of training examples."
        )
    return w


def as_reference(reference: Any, d: int, *, owner: str) -> np.ndarray:
    """float32 (d,) reference update (e.g. FLTrust's server root-data update)."""
    if reference is None:
        raise AggregationError(
            f"{owner} needs a 'reference' update (the server's update on its root dataset). "
            "Got None instead. Pass reference=... to the call."
        )
    ref = np.asarray(reference)
    if ref.dtype.kind not in "fiu" or ref.shape != (d,):
        raise AggregationError(
            f"The 'reference' parameter of {owner} must be a real (d,) vector with d={d}. "
            f"Got {_describe(ref)} instead."
        )
    ref = np.ascontiguousarray(ref, dtype=np.float32)
    if not np.all(np.isfinite(ref)):
        raise AggregationError(
            f"The 'reference' parameter of {owner} must contain only finite values. Got NaN/Inf instead."
        )
    return ref


def check_client_ids(client_ids: Sequence[str] | None, n: int, *, owner: str) -> list[str]:
    if client_ids is None:
        raise AggregationError(
            f"{owner} keeps per-client state and needs 'client_ids'. Got None instead. "
            "Pass client_ids=[...] (one id per update), and do not put a pre-aggregator that "
            "mixes rows (e.g. bucketing) in front of it."
        )
    ids = [str(c) for c in client_ids]
    if len(ids) != n or len(set(ids)) != n:
        raise AggregationError(
            f"The 'client_ids' parameter of {owner} must hold {n} distinct ids, one per update. "
            f"Got {len(ids)} ids ({len(set(ids))} distinct) instead."
        )
    return ids


def check_int(value: Any, *, name: str, owner: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise param_error(name, owner, f"an int >= {minimum}", value, cls=ConfigError)
    return int(value)


def check_positive_float(value: Any, *, name: str, owner: str, allow_zero: bool = False) -> float:
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if ok:
        value = float(value)
        ok = np.isfinite(value) and (value >= 0 if allow_zero else value > 0)
    if not ok:
        bound = ">= 0" if allow_zero else "> 0"
        raise param_error(name, owner, f"a finite float {bound}", value, cls=ConfigError)
    return float(value)


def require(condition: bool, message: str) -> None:
    """Raise AggregationError(message) unless ``condition`` holds."""
    if not condition:
        raise AggregationError(message)


def raise_nonfinite(updates: np.ndarray, *, owner: str) -> None:
    """Raise the NaN/Inf error naming the offending rows (slow path: errors only)."""
    bad = [i for i in range(updates.shape[0]) if not np.all(np.isfinite(updates[i]))]
    if not bad:
        raise AggregationError(
            f"The 'updates' parameter of {owner} must hold values that float32 arithmetic can "
            "aggregate. Got values so large that it overflowed instead. Screen or norm-bound the "
            "updates first (fedshield.screening, the 'norm_bound' pre-aggregator)."
        )
    raise AggregationError(
        f"The 'updates' parameter of {owner} must contain only finite values. Got NaN/Inf in rows "
        f"{bad[:10]} instead. Screen updates first (fedshield.screening) or drop those sites."
    )
