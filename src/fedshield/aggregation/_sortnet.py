"""Coordinate-wise order statistics with a data-parallel sorting network.

Why: median, trimmed mean and Bulyan's second stage need, for each of the d
coordinates, order statistics of n values. ``np.sort(axis=0)`` handles one
column at a time; a sorting network instead applies the *same*
compare-exchange sequence to a block of 128 columns, so every compare-exchange
is a vector min/max over cache-resident rows. Blocks of 16/32 wires are sorted
and merged by register tiles (``_tiles``), larger runs by bitonic merges; the
program is pruned backwards to the operations that can change the positions
the statistic reads, and the next column block is prefetched while the current
one is sorted.

Ties need no care: a sorting network yields the sorted multiset, and every
statistic here is a function of that multiset only.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from fedshield.aggregation._jit import HAVE_NUMBA, njit_reduce, prefetch
from fedshield.aggregation._tiles import TILE_COLUMNS, clean16, clean32, sort16, sort32

__all__ = ["MODE_MEDIAN", "MODE_TRIMMED", "MODE_BULYAN", "coordinate_statistic", "network"]

MODE_MEDIAN = 0
MODE_TRIMMED = 1
MODE_BULYAN = 2


OP_EXCHANGE = 0
OP_SORT16 = 1
OP_CLEAN16 = 2
OP_SORT32 = 3
OP_CLEAN32 = 4
TILE_WIDTH = {OP_SORT16: 16, OP_CLEAN16: 16, OP_SORT32: 32, OP_CLEAN32: 32}


def _batcher_pairs(n: int) -> list[tuple[int, int]]:
    """Batcher's odd-even merge sort on n wires (padded to a power of two)."""
    size = 1
    while size < n:
        size *= 2
    out: list[tuple[int, int]] = []
    p = 1
    while p < size:
        k = p
        while k >= 1:
            for j in range(k % p, size - k, 2 * k):
                for i in range(min(k, size - j - k)):
                    if (i + j) // (2 * p) == (i + j + k) // (2 * p):
                        out.append((i + j, i + j + k))
            k //= 2
        p *= 2
    # Every comparator sends the min to the lower wire, so +inf padding on
    # wires >= n never moves down and comparators touching it are no-ops.
    return [(a, b) for a, b in out if b < n]


Op = tuple[int, int, int]


def _exchanges(pairs, n: int) -> list[Op]:
    return [(OP_EXCHANGE, a, b) for a, b in pairs if b < n]


def _cleanup(g: int, k: int, n: int) -> list[Op]:
    """Half-cleaners at distances k, k/2, ..., 1 inside the 2k-wire block at g."""
    if g + 2 * k <= n and k in (8, 16):
        return [(OP_CLEAN16 if k == 8 else OP_CLEAN32, g, 0)]
    if g + k >= n:  # the upper half is all padding: nothing to exchange at distance k
        return _cleanup(g, k // 2, n) if k > 1 else []
    ops = _exchanges(((g + i, g + i + k) for i in range(k)), n)
    if k > 1:
        ops += _cleanup(g, k // 2, n) + _cleanup(g + k, k // 2, n)
    return ops


def _sort_block(g: int, w: int, n: int) -> list[Op]:
    """Sort wires g .. min(g + w, n) - 1 (w a power of two >= 16)."""
    r = min(w, n - g)
    if r <= 0:
        return []
    if r == w and w in (16, 32):
        return [(OP_SORT16 if w == 16 else OP_SORT32, g, 0)]
    if w == 16 or r <= w // 2:
        if w == 16:
            return [(OP_EXCHANGE, g + a, g + b) for a, b in _batcher_pairs(r)]
        return _sort_block(g, w // 2, n)
    h = w // 2  # two sorted halves, then one bitonic merge
    ops = _sort_block(g, h, n) + _sort_block(g + h, h, n)
    ops += _exchanges(((g + i, g + w - 1 - i) for i in range(h)), n)  # flip
    return ops + _cleanup(g, h // 2, n) + _cleanup(g + h, h // 2, n)


def _raw_ops(n: int) -> list[Op]:
    """Unpruned program of (op, a, b) sorting n wires.

    Below 16 wires: Batcher's pairs. Otherwise: sort blocks recursively; a
    block of 2h wires is two sorted halves merged bitonically, i.e. a "flip"
    exchange (i, 2h-1-i) and then half-cleaners of falling distance. Full
    blocks of 16/32 wires run as one register tile (``_tiles``).
    """
    if n < 16:
        return [(OP_EXCHANGE, a, b) for a, b in _batcher_pairs(n)]
    size = 16
    while size < n:
        size *= 2
    return _sort_block(0, size, n)


@lru_cache(maxsize=256)
def network(n: int, lo: int, hi: int, *, as_group: bool) -> np.ndarray:
    """(m, 3) int64 program of (op, a, b) sorting n wires, pruned backwards.

    Only operations that can change what positions lo..hi hold are kept. With
    ``as_group`` the statistic needs the *multiset* on lo..hi, not its order,
    so an operation whose wires all still only need membership of that group
    is dropped too (it permutes values inside the group).
    """
    none, group, exact = 0, 1, 2
    label = [none] * n
    for i in range(lo, hi + 1):
        label[i] = group if as_group else exact
    kept: list[Op] = []
    for op, a, b in reversed(_raw_ops(n)):
        wires = (a, b) if op == OP_EXCHANGE else tuple(range(a, a + TILE_WIDTH[op]))
        labels = {label[w] for w in wires}
        if len(labels) == 1 and exact not in labels:
            continue
        kept.append((op, a, b))
        for w in wires:
            label[w] = exact
    kept.reverse()
    return np.array(kept, dtype=np.int64).reshape(-1, 3)


@njit_reduce
def _kernel(x, rows, prog, mode, lo, hi, beta, out):  # pragma: no cover - jitted
    block = TILE_COLUMNS
    n = rows.size
    d = x.shape[1]
    # Zero-filled: in the last, partial block the tiles also sort stale columns
    # beyond w; those hold finite values and are never written to ``out``.
    buf = np.zeros(n * block, dtype=np.float32)
    # v * 0 is 0 for finite v and NaN otherwise; an element-wise accumulator
    # vectorises without reassociating float sums, so the check is ~free.
    sentinel = np.zeros(block, dtype=np.float32)
    zero = np.float32(0.0)
    half = np.float32(0.5)
    for c0 in range(0, d, block):
        w = min(block, d - c0)
        ahead = c0 + block < d
        for r in range(n):
            row = x[rows[r]]
            if ahead:  # next block of this row: fetched while this block is sorted
                for k in range(c0 + block, min(c0 + 2 * block, d), 16):
                    prefetch(row, k)
            src = row[c0:c0 + w]
            dst = buf[r * block:r * block + w]
            acc = zero
            for c in range(w):
                v = src[c]
                dst[c] = v
                acc += v * zero
            sentinel[0] += acc
        for p in range(prog.shape[0]):
            op = prog[p, 0]
            if op != 0:
                if op == 1:
                    sort16(buf, prog[p, 1])
                elif op == 2:
                    clean16(buf, prog[p, 1])
                elif op == 3:
                    sort32(buf, prog[p, 1])
                else:
                    clean32(buf, prog[p, 1])
                continue
            oa = prog[p, 1] * block
            ob = prog[p, 2] * block
            ra = buf[oa:oa + w]
            rb = buf[ob:ob + w]
            for c in range(w):
                a = ra[c]
                b = rb[c]
                ra[c] = min(a, b)
                rb[c] = max(a, b)
        if mode == 0:
            rl = buf[lo * block:lo * block + w]
            rh = buf[hi * block:hi * block + w]
            if lo == hi:
                for c in range(w):
                    out[c0 + c] = rl[c]
            else:  # halves first: no overflow near float32 max
                for c in range(w):
                    out[c0 + c] = rl[c] * half + rh[c] * half
        elif mode == 1:
            acc = buf[lo * block:lo * block + w]
            for r in range(lo + 1, hi + 1):
                rr = buf[r * block:r * block + w]
                for c in range(w):
                    acc[c] += rr[c]
            inv = np.float32(1.0 / (hi - lo + 1))
            for c in range(w):
                out[c0 + c] = acc[c] * inv
        else:
            for c in range(w):
                med = buf[lo * block + c]
                if lo != hi:
                    med = med * half + buf[hi * block + c] * half
                left = 0
                right = n - 1
                for _ in range(n - beta):
                    # Drop the end farther from the median; on a tie drop the top.
                    if med - buf[left * block + c] > buf[right * block + c] - med:
                        left += 1
                    else:
                        right -= 1
                s = 0.0
                for r in range(left, right + 1):
                    s += buf[r * block + c]
                out[c0 + c] = s / beta
    for c in range(block):
        if sentinel[c] != zero:
            return False
    return True


def _numpy_statistic(x, rows, mode, lo, hi, beta, out) -> bool:
    n = rows.size
    step = 16384
    finite = True
    for c0 in range(0, x.shape[1], step):
        block = np.sort(x[rows, c0:c0 + step], axis=0)
        finite &= bool(np.isfinite(block).all())
        med = block[lo] if lo == hi else block[lo] * np.float32(0.5) + block[hi] * np.float32(0.5)
        if mode == MODE_MEDIAN:
            out[c0:c0 + step] = med
        elif mode == MODE_TRIMMED:
            out[c0:c0 + step] = block[lo:hi + 1].mean(axis=0, dtype=np.float64)
        else:
            cols = np.arange(block.shape[1])
            left = np.zeros(block.shape[1], dtype=np.int64)
            right = np.full(block.shape[1], n - 1, dtype=np.int64)
            for _ in range(n - beta):
                drop_left = (med - block[left, cols]) > (block[right, cols] - med)
                left += drop_left
                right -= ~drop_left
            csum = np.zeros((n + 1, block.shape[1]))
            np.cumsum(block, axis=0, dtype=np.float64, out=csum[1:])
            out[c0:c0 + step] = (csum[right + 1, cols] - csum[left, cols]) / beta
    return finite


def coordinate_statistic(
    x: np.ndarray,
    *,
    mode: int,
    rows: np.ndarray | None = None,
    trim: int = 0,
    beta: int = 0,
    use_jit: bool | None = None,
) -> tuple[np.ndarray, bool]:
    """Per-coordinate statistic over ``x[rows]``; returns ``(out, all_finite)``.

    MODE_MEDIAN: the mean of the two middle values for an even count.
    MODE_TRIMMED: the mean after dropping ``trim`` values at each end.
    MODE_BULYAN: the mean of the ``beta`` values closest to that median
    (ties broken towards the smaller value).
    ``all_finite`` comes free from the pass that reads the data, so callers
    need no separate NaN/Inf scan. ``x`` must be C-contiguous float32.
    """
    if rows is None:
        rows = np.arange(x.shape[0], dtype=np.int64)
    rows = np.ascontiguousarray(rows, dtype=np.int64)
    m = rows.size
    lo, hi = (m - 1) // 2, m // 2
    if mode == MODE_TRIMMED:
        lo, hi = trim, m - trim - 1
    out = np.empty(x.shape[1], dtype=np.float32)
    jit = HAVE_NUMBA if use_jit is None else (use_jit and HAVE_NUMBA)
    if not jit:
        return out, _numpy_statistic(x, rows, mode, lo, hi, beta, out)
    if mode == MODE_BULYAN:
        prog = network(m, 0, m - 1, as_group=False)
    else:
        prog = network(m, lo, hi, as_group=True)
    finite = _kernel(x, rows, prog, mode, lo, hi, beta, out)
    return out, bool(finite)
