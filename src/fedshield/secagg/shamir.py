"""Shamir t-of-m secret sharing over GF(P), P = 2^256 + 297 (prime).

Why this field: a 32-byte secret (self-mask seed or raw X25519 private key) is
one field element, so each secret is one polynomial and each share one 33-byte
value; no chunking or padding. Share x-coordinates are ``holder_id + 1``, so a
share needs no index on the wire: the server knows who answered.

Vectorized: polynomials for many secrets are evaluated as one Vandermonde
product, and Lagrange coefficients for many reconstructions are computed as
object-dtype numpy arrays with one batched modular inversion, so Python big
ints touch only the few secrets, never the model dimension.

Kernel: imports no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fedshield.errors import ProtocolError, VerificationError
from fedshield.secagg.prg import RandomBytes

__all__ = [
    "PRIME",
    "SHARE_BYTES",
    "split",
    "reconstruct",
    "lagrange_at",
    "encode_share",
    "decode_share",
]

PRIME = (1 << 256) + 297
SHARE_BYTES = 33  # ceil(log2(PRIME) / 8)
_SAMPLE_BYTES = 48  # 384-bit draw reduced mod PRIME: bias < 2^-128


def _random_elements(count: int, random_bytes: RandomBytes) -> list[int]:
    raw = random_bytes(_SAMPLE_BYTES * count)
    return [
        int.from_bytes(raw[i : i + _SAMPLE_BYTES], "little") % PRIME
        for i in range(0, _SAMPLE_BYTES * count, _SAMPLE_BYTES)
    ]


def split(
    secrets: Sequence[int], *, xs: Sequence[int], threshold: int, random_bytes: RandomBytes
) -> np.ndarray:
    """Share each secret so that any ``threshold`` of the points ``xs`` recover it.

    Returns an object array ``shares[j, i]`` = value of secret i's polynomial at ``xs[j]``.
    """
    m, n = len(secrets), len(xs)
    if not 1 <= threshold <= n:
        raise ProtocolError(
            f"Cannot split into {n} shares with threshold {threshold}; "
            "the threshold must be between 1 and the number of shares."
        )
    if len(set(x % PRIME for x in xs)) != n or any(x % PRIME == 0 for x in xs):
        raise ProtocolError("Share points must be distinct and non-zero mod P; use holder_id + 1.")
    if any(not 0 <= s < PRIME for s in secrets):
        raise ProtocolError("Secrets must be integers in [0, P); encode 32-byte secrets little-endian.")
    coeffs = np.empty((threshold, m), dtype=object)
    coeffs[0, :] = list(secrets)
    if threshold > 1:
        coeffs[1:, :] = np.array(_random_elements((threshold - 1) * m, random_bytes), dtype=object).reshape(
            threshold - 1, m
        )
    vander = np.empty((n, threshold), dtype=object)
    for j, x in enumerate(xs):
        power = 1
        for i in range(threshold):
            vander[j, i] = power
            power = power * x % PRIME
    return (vander.dot(coeffs)) % PRIME


def _batch_inverse(values: list[int]) -> list[int]:
    """Montgomery's trick: one modular inversion for the whole batch."""
    prefix = [1] * (len(values) + 1)
    for i, v in enumerate(values):
        if v % PRIME == 0:
            raise ProtocolError("Share points must be distinct mod P; got a repeated holder.")
        prefix[i + 1] = prefix[i] * v % PRIME
    inv = pow(prefix[-1], -1, PRIME)
    out = [0] * len(values)
    for i in range(len(values) - 1, -1, -1):
        out[i] = inv * prefix[i] % PRIME
        inv = inv * values[i] % PRIME
    return out


def lagrange_at(xs: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Lagrange basis values ``out[r, e, j] = prod_{i != j} (at[r, e] - xs[r, i]) / (xs[r, j] - xs[r, i])``.

    ``xs`` is (m, t): the share points of m reconstructions; ``at`` is (m, e): the
    points to evaluate each polynomial at (0 recovers the secret). The
    denominators depend only on ``xs``, so they are inverted once for all e.
    """
    x = np.asarray(xs, dtype=object) % PRIME
    m, t = x.shape
    a = np.asarray(at, dtype=object).reshape(m, -1) % PRIME
    diff = x[:, :, None] - x[:, None, :]  # (m, t, t): x_j - x_i
    idx = np.arange(t)
    diff[:, idx, idx] = 1
    den = np.prod(diff, axis=2) % PRIME  # (m, t)
    inv = np.array(_batch_inverse(list(den.ravel())), dtype=object).reshape(m, 1, t)
    gaps = a[:, :, None] - x[:, None, :]  # (m, e, t): at - x_i
    num = np.empty(gaps.shape, dtype=object)
    for j in range(t):
        num[:, :, j] = np.prod(np.delete(gaps, j, axis=2), axis=2) % PRIME if t > 1 else 1
    return num * inv % PRIME


def reconstruct(xs: np.ndarray, ys: np.ndarray, *, threshold: int) -> list[int]:
    """Recover one secret per row from its share points ``xs`` and values ``ys`` (m, >= t).

    Why the extra check: when more than ``threshold`` shares arrived, the rest
    must lie on the same polynomial; a mismatch means a holder or the server sent
    a corrupt share, and we fail closed rather than unmask with a wrong seed.
    """
    xs = np.asarray(xs, dtype=object)
    ys = np.asarray(ys, dtype=object)
    if xs.ndim != 2 or xs.shape != ys.shape:
        raise ProtocolError("Shares must come as matching (secrets, shares) arrays of points and values.")
    m, have = xs.shape
    if have < threshold:
        raise ProtocolError(
            f"Only {have} shares survived but {threshold} are needed to reconstruct the secret; "
            "the round cannot be unmasked (lower the threshold or raise the degree next round)."
        )
    if m == 0:
        return []
    base_x, base_y = xs[:, :threshold], ys[:, :threshold]
    at = np.concatenate([np.zeros((m, 1), dtype=object), xs[:, threshold:]], axis=1)
    values = (lagrange_at(base_x, at) * base_y[:, None, :]).sum(axis=2) % PRIME  # (m, 1 + extras)
    bad = np.argwhere(values[:, 1:] != ys[:, threshold:] % PRIME)
    if bad.size:
        row, col = bad[0]
        raise VerificationError(
            f"A share at point {xs[row, threshold + col]} is inconsistent with the other "
            f"{threshold}; a holder or the server tampered with it. Aborting the round."
        )
    return [int(s) for s in values[:, 0]]


def encode_share(value: int) -> bytes:
    return int(value).to_bytes(SHARE_BYTES, "little")


def decode_share(raw: bytes) -> int:
    if len(raw) != SHARE_BYTES:
        raise ProtocolError(f"A Shamir share must be {SHARE_BYTES} bytes; got {len(raw)}.")
    value = int.from_bytes(raw, "little")
    if value >= PRIME:
        raise ProtocolError("A Shamir share is not a field element (>= P); it was corrupted.")
    return value
