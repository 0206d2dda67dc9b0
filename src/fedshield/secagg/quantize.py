"""Clipping and stochastic quantization of weighted updates into Z_(2^32).

Encoding (per client i, weight w_i an integer in [0, M], M = ``max_weight``):

    y_i = (w_i / M) * clip(x_i, -c, c)            in [-c, c]
    q_i = stochastic_round(y_i / delta)           in [-L, L],  L = 2^(bits-1) - 1, delta = c / L
    wire: [w_i, q_i mod 2^32]                     uint32, d + 1 words (4 bytes per parameter)

Why scale by w_i / M before quantizing: the server only learns sums, so the
weighted numerator sum_i w_i x_i and the weight total sum_i w_i must both be
sums. The weight is an exact integer (e.g. an example count), so numerator
and denominator use the very same weights and the mean has no weight bias.

Why stochastic rounding: E[q_i] = y_i / delta, so the aggregate is unbiased
and errors of different sites are independent and zero-mean.

No overflow: |sum_i q_i| <= n L <= 2^31 - 1 when bits <= 32 - ceil(log2 n), so the
signed sum is read back exactly from Z_(2^32); sum_i w_i <= n M < 2^32 likewise.

Error bound (deterministic, per coordinate, versus the exact weighted mean of
the *clipped* inputs): each |q_i - y_i/delta| <= 1, hence

    |mean_hat - mean| <= n * delta * M / W = n * c * M / ((2^(bits-1) - 1) * W),   W = sum_i w_i

which is c / (2^(bits-1) - 1) when every site has the maximum weight. The
typical error is ~sqrt(n) times smaller (independent zero-mean rounding).

Kernel: imports no I/O.
"""

from __future__ import annotations

import math

import numpy as np

from fedshield.errors import ProtocolError, param_error

__all__ = ["max_bits", "encode", "decode", "mean_error_bound", "step_size"]

_CHUNK = 1 << 15


def max_bits(n_clients: int) -> int:
    """Largest per-client bit width whose n-fold signed sum still fits in int32."""
    return 32 - max(0, math.ceil(math.log2(max(n_clients, 1))))


def step_size(*, clip_range: float, bits: int) -> float:
    return clip_range / float((1 << (bits - 1)) - 1)


def encode(
    update: np.ndarray,
    *,
    weight: int,
    max_weight: int,
    clip_range: float,
    bits: int,
    uniform_words: np.ndarray,
) -> np.ndarray:
    """Return the d + 1 uint32 words [weight, q_1..q_d] for one client.

    ``uniform_words`` are d uniform uint32 words (the client's private randomness)
    used for stochastic rounding.
    """
    x = np.asarray(update)
    if x.ndim != 1 or uniform_words.shape != x.shape:
        raise param_error("update", "secagg.encode", "a flat 1-D array", x.shape)
    if not 0 <= weight <= max_weight:
        raise param_error("weight", "secagg.encode", f"an integer in [0, {max_weight}]", weight)
    levels = float((1 << (bits - 1)) - 1)
    bound = levels * (weight / max_weight)  # <= levels in floating point too, so no overflow
    factor = bound / clip_range
    out = np.empty(x.shape[0] + 1, dtype=np.uint32)
    out[0] = weight
    q = out[1:].view(np.int32)  # |q| <= L < 2^31; int32 bits are q mod 2^32
    width = min(x.shape[0], _CHUNK)
    scaled, noise = np.empty(width), np.empty(width)
    for start in range(0, x.shape[0], _CHUNK):  # cache-sized blocks, no d-sized temporaries
        stop = min(start + _CHUNK, x.shape[0])
        s, u = scaled[: stop - start], noise[: stop - start]
        np.multiply(x[start:stop], factor, out=s, dtype=np.float64)  # not float32 math
        np.clip(s, -bound, bound, out=s)  # = clip(x, -c, c) * bound / c
        # floor(s + U), U uniform in [0, 1): rounds up with probability frac(s), unbiased.
        np.multiply(uniform_words[start:stop], 2.0**-32, out=u)
        s += u
        np.floor(s, out=s)
        np.minimum(s, levels, out=s)  # float addition can round s + U up to L + 1 (p ~ 2^-26)
        q[start:stop] = s
    return out


def decode(total: np.ndarray, *, max_weight: int, clip_range: float, bits: int) -> tuple[np.ndarray, int]:
    """Turn the unmasked sum [W, sum q] into (weighted mean, W)."""
    weight_total = int(total[0])
    if weight_total == 0:
        raise ProtocolError(
            "The surviving sites' total weight is 0, so no weighted mean exists; "
            "give at least one surviving site a positive weight."
        )
    summed = total[1:].view(np.int32).astype(np.float64)
    summed *= step_size(clip_range=clip_range, bits=bits) * max_weight / weight_total
    return summed, weight_total


def mean_error_bound(
    *, clip_range: float, bits: int, n_clients: int, total_weight: int, max_weight: int
) -> float:
    """Worst-case per-coordinate error of the decoded mean (see module docstring)."""
    if total_weight <= 0:
        return math.inf
    return n_clients * step_size(clip_range=clip_range, bits=bits) * max_weight / total_weight
