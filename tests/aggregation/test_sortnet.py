"""The sorting-network engine behind median / trimmed mean / Bulyan."""

from __future__ import annotations

import inspect
import itertools

import numpy as np
import pytest

from fedshield.aggregation import _sortnet as S
from fedshield.aggregation import _tiles as T


def _apply(prog: np.ndarray, values: np.ndarray) -> np.ndarray:
    v = values.copy()
    for op, a, b in prog:
        if op == S.OP_EXCHANGE:
            pairs = [(a, b)]
        else:
            base = {S.OP_SORT16: T.SORT16_PAIRS, S.OP_CLEAN16: T.CLEAN16_PAIRS,
                    S.OP_SORT32: T.SORT32_PAIRS, S.OP_CLEAN32: T.CLEAN32_PAIRS}[op]
            pairs = [(a + i, a + j) for i, j in base]
        for i, j in pairs:
            lo, hi = min(v[i], v[j]), max(v[i], v[j])
            v[i], v[j] = lo, hi
    return v


def test_tiles_unroll_their_pair_lists():
    assert list(T.SORT16_PAIRS) == S._batcher_pairs(16)
    assert list(T.SORT32_PAIRS) == S._batcher_pairs(32)
    tiles = ((T.sort16, T.SORT16_PAIRS), (T.clean16, T.CLEAN16_PAIRS),
             (T.sort32, T.SORT32_PAIRS), (T.clean32, T.CLEAN32_PAIRS))
    for fn, pairs in tiles:
        src = inspect.getsource(getattr(fn, "py_func", fn))
        body = [ln.strip() for ln in src.splitlines() if "= min(" in ln]
        assert body == [f"v{a}, v{b} = min(v{a}, v{b}), max(v{a}, v{b})" for a, b in pairs]


@pytest.mark.parametrize("op", [S.OP_SORT16, S.OP_SORT32])
def test_sort_tiles_sort_their_rows(op):
    w = S.TILE_WIDTH[op]
    rng = np.random.default_rng(w)
    buf = rng.normal(size=(w + 3) * T.TILE_COLUMNS).astype(np.float32)
    before = buf.reshape(w + 3, -1).copy()
    (T.sort16 if w == 16 else T.sort32)(buf, 2)
    after = buf.reshape(w + 3, -1)
    np.testing.assert_array_equal(after[2:2 + w], np.sort(before[2:2 + w], axis=0))
    np.testing.assert_array_equal(after[:2], before[:2])
    np.testing.assert_array_equal(after[2 + w:], before[2 + w:])


@pytest.mark.parametrize("n", range(1, 13))
def test_network_sorts_every_01_input(n):
    # 0-1 principle: a comparator network sorts everything iff it sorts all 0/1 inputs.
    prog = S.network(n, 0, n - 1, as_group=False)
    for bits in itertools.product((0, 1), repeat=n):
        out = _apply(prog, np.array(bits))
        assert np.all(np.diff(out) >= 0)


@pytest.mark.parametrize("n", [16, 17, 24, 31, 32, 33, 47, 48, 50, 63, 64, 65, 100, 129])
def test_tiled_network_sorts(n):
    prog = S.network(n, 0, n - 1, as_group=False)
    rng = np.random.default_rng(n)
    for _ in range(30):
        v = rng.integers(0, 5, n)
        assert np.array_equal(_apply(prog, v), np.sort(v))


@pytest.mark.parametrize("n", [5, 16, 33, 50])
def test_group_pruning_keeps_the_middle_multiset(n):
    rng = np.random.default_rng(0)
    for lo in range(0, n // 2):
        hi = n - 1 - lo
        prog = S.network(n, lo, hi, as_group=True)
        assert len(prog) <= len(S.network(n, lo, hi, as_group=False))
        for _ in range(10):
            v = rng.integers(0, 7, n)
            assert sorted(_apply(prog, v)[lo:hi + 1]) == sorted(np.sort(v)[lo:hi + 1])


@pytest.mark.parametrize("n", [1, 2, 3, 8, 16, 17, 40, 50])
@pytest.mark.parametrize("d", [1, 127, 128, 129, 1000])
def test_jit_and_numpy_paths_agree(n, d):
    rng = np.random.default_rng(n * d)
    x = rng.integers(-3, 4, (n, d)).astype(np.float32)  # many ties on purpose
    rows = np.arange(n)
    for mode, kw in ((S.MODE_MEDIAN, {}), (S.MODE_TRIMMED, {"trim": (n - 1) // 2}),
                     (S.MODE_BULYAN, {"beta": max(1, n - 2)})):
        a, fa = S.coordinate_statistic(x, mode=mode, rows=rows, **kw)
        b, fb = S.coordinate_statistic(x, mode=mode, rows=rows, use_jit=False, **kw)
        assert fa and fb
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(S.coordinate_statistic(x, mode=S.MODE_MEDIAN)[0], np.median(x, axis=0))


def test_bulyan_mode_on_a_row_subset():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(20, 300)).astype(np.float32)
    rows = np.array([0, 3, 4, 9, 12, 13, 19])
    out, _ = S.coordinate_statistic(x, mode=S.MODE_BULYAN, rows=rows, beta=3)
    sub = x[rows].astype(np.float64)
    med = np.median(sub, axis=0)
    idx = np.lexsort((sub, np.abs(sub - med)), axis=0)[:3]
    np.testing.assert_allclose(out, np.take_along_axis(sub, idx, 0).mean(0), rtol=1e-6)


@pytest.mark.parametrize("use_jit", [True, False])
def test_finiteness_flag(use_jit):
    x = np.ones((17, 300), dtype=np.float32)
    assert S.coordinate_statistic(x, mode=S.MODE_MEDIAN, use_jit=use_jit)[1]
    for bad in (np.nan, np.inf, -np.inf):
        y = x.copy()
        y[16, 299] = bad
        assert not S.coordinate_statistic(y, mode=S.MODE_MEDIAN, use_jit=use_jit)[1]
