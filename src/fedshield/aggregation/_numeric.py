"""Shared numeric building blocks: Gram matrices, row norms, finiteness.

Why: Krum, Multi-Krum, Bulyan, NNM, geometric median, centered clipping,
FLTrust, FoolsGold and FLAME only need inner products between updates. One
Gram matrix, computed in one streaming pass over cache-sized column chunks,
replaces the O(n^2) passes over d that pairwise loops make; everything after
it is (n, n) arithmetic.

Precision: products are float32 within a chunk of a few thousand columns and
summed in float64 across chunks, and rows are first centred on a typical
update (a translation, which leaves distances unchanged). Distances
||y_i||^2 + ||y_j||^2 - 2 y_i.y_j between honest updates therefore carry
~1e-7 relative error with respect to their own spread, whatever their offset
from zero; distances involving a huge (Byzantine) row are precise relative to
that row's size, which is all the selection rules need. The tests check Krum
picks bit-for-bit against a float64 reference.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg.blas import ssyrk

from fedshield.aggregation._jit import HAVE_NUMBA, njit_reduce, prefetch

__all__ = ["gram", "sq_distances", "row_stats", "all_finite", "convex_combination", "CHUNK_COLUMNS"]

CHUNK_COLUMNS = 4096
JIT_CHUNK_COLUMNS = 2048
MEDOID_COLUMNS = 1024


if HAVE_NUMBA:

    @njit_reduce
    def _gram_kernel(x, ctr, use_ctr, chunk):  # pragma: no cover - jitted
        # Upper-triangle 4x4 register blocks of Y Y^T over cache-sized column
        # chunks of Y = x - ctr: 16 float32 accumulators per block (vectorised
        # along the columns), flushed into a float64 matrix after each chunk.
        n, d = x.shape
        g = np.zeros((n, n))
        buf = np.empty((n, chunk), dtype=np.float32)
        nb4 = (n + 3) // 4
        last = n - 1
        for c0 in range(0, d, chunk):
            w = min(chunk, d - c0)
            for r in range(n):
                row = x[r]
                if c0 + chunk < d:  # next chunk of this row: fetched during the products
                    for k in range(c0 + chunk, min(c0 + 2 * chunk, d), 16):
                        prefetch(row, k)
                src = row[c0:c0 + w]
                dst = buf[r, :w]
                if use_ctr:
                    cc = ctr[c0:c0 + w]
                    for c in range(w):
                        dst[c] = src[c] - cc[c]
                else:
                    for c in range(w):
                        dst[c] = src[c]
            for bi in range(nb4):
                i0 = bi * 4
                a0 = buf[i0, :w]
                a1 = buf[min(i0 + 1, last), :w]
                a2 = buf[min(i0 + 2, last), :w]
                a3 = buf[min(i0 + 3, last), :w]
                for bj in range(bi, nb4):
                    j0 = bj * 4
                    b0 = buf[j0, :w]
                    b1 = buf[min(j0 + 1, last), :w]
                    b2 = buf[min(j0 + 2, last), :w]
                    b3 = buf[min(j0 + 3, last), :w]
                    s00 = s01 = s02 = s03 = s10 = s11 = s12 = s13 = np.float32(0.0)
                    s20 = s21 = s22 = s23 = s30 = s31 = s32 = s33 = np.float32(0.0)
                    for c in range(w):
                        u0 = a0[c]
                        u1 = a1[c]
                        u2 = a2[c]
                        u3 = a3[c]
                        v0 = b0[c]
                        v1 = b1[c]
                        v2 = b2[c]
                        v3 = b3[c]
                        s00 += u0 * v0
                        s01 += u0 * v1
                        s02 += u0 * v2
                        s03 += u0 * v3
                        s10 += u1 * v0
                        s11 += u1 * v1
                        s12 += u1 * v2
                        s13 += u1 * v3
                        s20 += u2 * v0
                        s21 += u2 * v1
                        s22 += u2 * v2
                        s23 += u2 * v3
                        s30 += u3 * v0
                        s31 += u3 * v1
                        s32 += u3 * v2
                        s33 += u3 * v3
                    blk = ((s00, s01, s02, s03), (s10, s11, s12, s13),
                           (s20, s21, s22, s23), (s30, s31, s32, s33))
                    for p in range(4):
                        i = i0 + p
                        if i >= n:
                            break
                        for q in range(4):
                            j = j0 + q
                            if j >= n:
                                break
                            if bi != bj or j >= i:
                                g[i, j] += blk[p][q]
        for i in range(n):
            for j in range(i):
                g[i, j] = g[j, i]
        return g


def _medoid_row(x: np.ndarray) -> int:
    """A row near the bulk of the data, judged on the first few columns.

    Centring on a real, typical update keeps the honest updates' centred norms
    as small as their mutual distances, so float32 products lose nothing that
    matters; huge Byzantine rows cannot drag this centre the way they drag a
    mean. A float64 sample of ``MEDOID_COLUMNS`` columns is plenty to find one.
    """
    with np.errstate(all="ignore"):  # NaN/Inf are reported later, via the diagonal
        head = x[:, :MEDOID_COLUMNS].astype(np.float64)
        sq = np.einsum("ij,ij->i", head, head)
        d2 = sq[:, None] + sq[None, :] - 2.0 * (head @ head.T)
        k = max(1, x.shape[0] // 2)
        return int(np.argmin(np.sort(d2, axis=1)[:, :k].sum(axis=1)))


def gram(
    x: np.ndarray,
    *,
    centre: str | np.ndarray | None = "auto",
) -> tuple[np.ndarray, bool]:
    """Gram matrix of ``x - centre`` (float32 products, float64 sum); ``(G, all_finite)``.

    ``centre``: ``"auto"`` (a typical row, see ``_medoid_row``: fine whenever
    only distances are used), ``None`` (raw inner products, e.g. for cosines)
    or a (d,) vector. Each cache-sized column chunk is centred in float32 and
    multiplied by a register-blocked numba kernel (upper triangle only; the
    next chunk is prefetched meanwhile), or by BLAS ``ssyrk`` without numba;
    chunk products are summed in float64, so the error is that of one chunk
    (~1e-7..1e-6 relative to the centred norms), not of all d columns.
    ``all_finite`` is read off the diagonal: NaN/Inf anywhere in a row makes it
    non-finite, so no separate scan over the data is needed.
    """
    n, d = x.shape
    if isinstance(centre, str):
        ctr = x[_medoid_row(x)] if n > 2 else None
    elif centre is None:
        ctr = None
    else:
        ctr = np.ascontiguousarray(centre, dtype=np.float32)
    if HAVE_NUMBA:
        use = ctr is not None
        g = _gram_kernel(x, ctr if use else np.zeros(1, dtype=np.float32), use, JIT_CHUNK_COLUMNS)
        return g, bool(np.all(np.isfinite(np.diag(g))))
    g = np.zeros((n, n), dtype=np.float64)
    buf = np.empty((n, min(CHUNK_COLUMNS, d)), dtype=np.float32)
    with np.errstate(invalid="ignore", over="ignore"):
        for c0 in range(0, d, CHUNK_COLUMNS):
            c1 = min(c0 + CHUNK_COLUMNS, d)
            chunk = buf[:, : c1 - c0]
            if ctr is None:
                np.copyto(chunk, x[:, c0:c1])
            else:
                np.subtract(x[:, c0:c1], ctr[c0:c1], out=chunk)
            g += ssyrk(1.0, chunk.T, trans=1)  # upper triangle of chunk @ chunk.T
    g = np.triu(g) + np.triu(g, 1).T
    return g, bool(np.all(np.isfinite(np.diag(g))))


def sq_distances(g: np.ndarray) -> np.ndarray:
    """Pairwise squared Euclidean distances from a Gram matrix (float64, zero diagonal)."""
    diag = np.diag(g)
    d2 = diag[:, None] + diag[None, :] - 2.0 * g
    np.maximum(d2, 0.0, out=d2)
    np.fill_diagonal(d2, 0.0)
    return d2


if HAVE_NUMBA:

    @njit_reduce
    def _row_stats(x, v, use_v):  # pragma: no cover - jitted
        n, d = x.shape
        sq = np.zeros(n, dtype=np.float64)
        dots = np.zeros(n, dtype=np.float64)
        for i in range(n):
            row = x[i]
            s = 0.0
            t = 0.0
            if use_v:
                for c in range(d):
                    a = np.float64(row[c])
                    s += a * a
                    t += a * np.float64(v[c])
            else:
                for c in range(d):
                    a = np.float64(row[c])
                    s += a * a
            sq[i] = s
            dots[i] = t
        return sq, dots


def row_stats(x: np.ndarray, v: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """float64 squared L2 norm of each row and, if ``v`` is given, each row's dot with v.

    A NaN/Inf anywhere in row i makes ``sq[i]`` non-finite (finiteness check for free).
    """
    use_v = v is not None
    vv = np.ascontiguousarray(v, dtype=np.float32) if use_v else np.zeros(1, dtype=np.float32)
    if HAVE_NUMBA:
        return _row_stats(x, vv, use_v)
    sq = np.zeros(x.shape[0])
    dots = np.zeros(x.shape[0])
    for c0 in range(0, x.shape[1], CHUNK_COLUMNS):
        chunk = x[:, c0:c0 + CHUNK_COLUMNS].astype(np.float64)
        sq += np.einsum("ij,ij->i", chunk, chunk)
        if use_v:
            dots += chunk @ vv[c0:c0 + CHUNK_COLUMNS].astype(np.float64)
    return sq, dots


def all_finite(x: np.ndarray) -> bool:
    """True if every entry of ``x`` is finite (one streaming pass)."""
    sq, _ = row_stats(x)
    return bool(np.all(np.isfinite(sq)))


def convex_combination(coef: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Sum_i coef_i x_i for coefficients summing to 1, as one float32 GEMV.

    The float32 coefficients do not sum to exactly 1; rescaling by their float64
    sum keeps n identical inputs mapping to that input (to the last bit or so).
    """
    c32 = np.asarray(coef, dtype=np.float32)
    out = c32 @ x
    total = float(c32.sum(dtype=np.float64))
    if total > 0 and total != 1.0:
        out *= np.float32(1.0 / total)
    return out
