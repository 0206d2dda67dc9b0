"""Arrays on the wire: float32 little-endian for models, ``.npy`` (no pickle)
for evaluation labels/scores so their dtype survives and metrics match the
in-process simulation bit for bit."""

from __future__ import annotations

import io

import numpy as np

from fedshield.errors import VerificationError


def params_to_bytes(array: np.ndarray) -> bytes:
    return np.ascontiguousarray(array, dtype="<f4").tobytes()


def bytes_to_params(data: bytes | bytearray | memoryview, expected: int, *, what: str = "update") -> np.ndarray:
    if len(data) != 4 * expected:
        raise VerificationError(f"The {what} has {len(data)} bytes; {4 * expected} (float32 x {expected}) expected. "
                                "Send a vector of the global model's shape.")
    arr = np.frombuffer(data, dtype="<f4").astype(np.float32)
    if not np.isfinite(arr).all():
        raise VerificationError(f"The {what} contains NaN or infinite values; it is refused. Check local training.")
    return arr


def npy_bytes(array: np.ndarray | None) -> bytes:
    if array is None:
        return b""
    buf = io.BytesIO()
    np.save(buf, np.asarray(array), allow_pickle=False)
    return buf.getvalue()


def from_npy(data: bytes, *, max_items: int = 10_000_000) -> np.ndarray | None:
    if not data:
        return None
    try:
        arr = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError, EOFError):
        raise VerificationError("An evaluation array is not a valid .npy payload; it is refused.") from None
    if arr.ndim != 1 or arr.size > max_items or arr.dtype.kind not in "fiub":
        raise VerificationError(f"An evaluation array must be a 1-D numeric vector; got {arr.dtype} {arr.shape}.")
    return arr
