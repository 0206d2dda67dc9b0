"""The aggregation contract, as reusable checks (like scikit-learn's ``check_estimator``).

Why: every rule (built-in or plugin) must honour the same promises: right
shape, finite output, input untouched, declared permutation invariance, n
identical inputs give that input, bounded output under f huge inputs, NaN/Inf
refused with ``AggregationError``. A plugin author runs
``check_aggregator(MyRule(f=1))`` and gets the same suite the built-ins pass.

Each check takes a rule and works on a fresh clone of it, so stateful rules
start clean; a failed check raises ``AssertionError`` saying what broke.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from fedshield.aggregation.base import Aggregator, PreAggregator, clone
from fedshield.aggregation.rules import CoordinateMedian
from fedshield.errors import AggregationError

__all__ = ["aggregator_checks", "pre_aggregator_checks", "check_aggregator", "check_pre_aggregator"]

Check = Callable[[Aggregator | PreAggregator], None]
_D = 257  # odd and > one 128-column block, so tails and block edges are exercised


def _n_for(rule) -> int:
    return max(rule.min_updates(), 9)


def _honest(n: int, d: int = _D, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    direction = rng.normal(0.0, 1.0, d)
    return (0.5 * direction + rng.normal(0.0, 0.3, (n, d))).astype(np.float32)


def _run(rule, x, w=None, *, ids=None, seed=0):
    """Call a rule with whatever extra inputs its tags say it needs."""
    n = x.shape[0]
    w = np.ones(n) if w is None else w
    rng = np.random.default_rng(seed)
    if isinstance(rule, PreAggregator):
        return rule(x, w, rng=rng)
    ids = [f"site-{i}" for i in range(n)] if ids is None else ids
    reference = np.median(x, axis=0).astype(np.float32) if rule.tags.needs_reference else None
    return rule(x, w, client_ids=ids, reference=reference, rng=rng)


def _as_single(rule, out):
    """Aggregator output, or the coordinate median of a pre-aggregator's rows."""
    if isinstance(rule, PreAggregator):
        return CoordinateMedian()(out[0], out[1])
    return out


def check_output_shape_and_finite(rule) -> None:
    x = _honest(_n_for(rule))
    out = _run(clone(rule), x)
    if isinstance(rule, PreAggregator):
        y, w = out
        assert y.ndim == 2 and y.shape[1] == _D and y.dtype == np.float32, f"bad output {y.shape} {y.dtype}"
        assert w.shape == (y.shape[0],), f"weights shape {w.shape} does not match {y.shape}"
        assert np.all(np.isfinite(y)) and np.all(np.isfinite(w)), "non-finite output"
    else:
        assert out.shape == (_D,) and out.dtype == np.float32, f"bad output {out.shape} {out.dtype}"
        assert np.all(np.isfinite(out)), "non-finite output"


def check_input_untouched(rule) -> None:
    x = _honest(_n_for(rule))
    w = np.arange(1.0, x.shape[0] + 1.0)
    x_copy, w_copy = x.copy(), w.copy()
    x.setflags(write=False)
    w.setflags(write=False)
    try:
        _run(clone(rule), x, w)
    except ValueError as exc:
        if "read-only" in str(exc):
            raise AssertionError(f"the rule tried to write to its input: {exc}") from exc
        raise
    assert np.array_equal(x, x_copy) and np.array_equal(w, w_copy), "the rule modified its input"


def check_identical_inputs(rule) -> None:
    n = _n_for(rule)
    row = _honest(1)[0]
    x = np.repeat(row[None, :], n, axis=0)
    out = _as_single(rule, _run(clone(rule), x))
    if rule.tags.exact_identity:
        np.testing.assert_allclose(out, row, rtol=1e-5, atol=1e-6, err_msg="n identical inputs must give that input")
    else:  # noisy rules: only close
        assert np.linalg.norm(out - row) <= 0.05 * np.linalg.norm(row), "identical inputs drifted too far"
    if isinstance(rule, PreAggregator) and rule.tags.exact_identity:
        y, _ = _run(clone(rule), x)
        np.testing.assert_allclose(y, np.repeat(row[None, :], y.shape[0], axis=0), rtol=1e-5, atol=1e-6)


def check_permutation_invariance(rule) -> None:
    if not rule.tags.permutation_invariant:
        return
    n = _n_for(rule)
    x = _honest(n, seed=3)
    w = np.arange(1.0, n + 1.0)
    ids = [f"site-{i}" for i in range(n)]
    perm = np.random.default_rng(7).permutation(n)
    a = _run(clone(rule), x, w, ids=ids)
    b = _run(clone(rule), x[perm], w[perm], ids=[ids[i] for i in perm])
    if isinstance(rule, PreAggregator):  # rows permute along with the input
        if rule.tags.preserves_rows:
            np.testing.assert_allclose(b[0], a[0][perm], rtol=1e-4, atol=1e-5, err_msg="not permutation-equivariant")
        return
    np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5, err_msg="declared permutation invariant but is not")


def check_bounded_under_attack(rule) -> None:
    if not rule.tags.robust:
        return
    n = _n_for(rule)
    f = getattr(rule, "f", None)
    f_attack = f if f is not None else max(1, n // 4)
    if isinstance(rule, PreAggregator) and f is None:
        f_attack = 1
    if f_attack == 0:
        return
    x = _honest(n, seed=5)
    honest = x[f_attack:]
    rng = np.random.default_rng(11)
    x[:f_attack] = (1e6 * rng.normal(0.0, 1.0, (f_attack, _D))).astype(np.float32)
    out = _as_single(rule, _run(clone(rule), x))
    centre = honest.mean(axis=0)
    spread = np.linalg.norm(honest - centre, axis=1).max()
    err = float(np.linalg.norm(out - centre))
    assert err <= 10 * spread + 1e-3, (
        f"{f_attack} huge inputs moved the output by {err:.3g} (honest spread {spread:.3g})"
    )


def check_refuses_nonfinite(rule) -> None:
    n = _n_for(rule)
    for bad in (np.nan, np.inf, -np.inf):
        x = _honest(n)
        x[n // 2, 7] = bad
        try:
            _run(clone(rule), x)
        except AggregationError as exc:
            assert "finite" in str(exc), f"unhelpful message for {bad}: {exc}"
        else:
            raise AssertionError(f"{bad} in the input was accepted")


def check_refuses_too_few(rule) -> None:
    need = rule.min_updates()
    if need <= 1:
        return
    try:
        _run(clone(rule), _honest(need - 1))
    except AggregationError as exc:
        assert f"n={need - 1}" in str(exc), f"message should state n: {exc}"
    else:
        raise AssertionError(f"accepted n={need - 1} < min_updates()={need}")


def check_refuses_bad_weights(rule) -> None:
    n = _n_for(rule)
    x = _honest(n)
    for w in (np.ones(n + 1), -np.ones(n), np.full(n, np.nan)):
        try:
            _run(clone(rule), x, w)
        except AggregationError:
            continue
        raise AssertionError(f"weights {w[:3]}... were accepted")


def check_float64_input(rule) -> None:
    x = _honest(_n_for(rule))
    out = _run(clone(rule), x.astype(np.float64))
    ref = _run(clone(rule), x)
    if isinstance(rule, PreAggregator):
        out, ref = out[0], ref[0]
    assert out.dtype == np.float32, f"float64 input gave {out.dtype} output"
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-6)


def check_seeded(rule) -> None:
    if not rule.tags.randomized:
        return
    x = _honest(_n_for(rule))
    a, b = _run(clone(rule), x, seed=42), _run(clone(rule), x, seed=42)
    if isinstance(rule, PreAggregator):
        a, b = a[0], b[0]
    assert np.array_equal(a, b), "same rng seed must give the same result"


def check_reset(rule) -> None:
    if not rule.tags.stateful:
        return
    x = _honest(_n_for(rule), seed=9)
    used = clone(rule)
    for s in range(3):
        _run(used, _honest(x.shape[0], seed=20 + s))
    used.reset()
    np.testing.assert_allclose(_run(used, x), _run(clone(rule), x), rtol=1e-5, atol=1e-6,
                               err_msg="reset() must forget all state")


def check_missing_context(rule) -> None:
    if isinstance(rule, PreAggregator):
        return
    x = _honest(_n_for(rule))
    if rule.tags.needs_reference:
        try:
            clone(rule)(x, np.ones(len(x)), client_ids=[str(i) for i in range(len(x))])
        except AggregationError as exc:
            assert "reference" in str(exc)
        else:
            raise AssertionError("missing reference was accepted")
    if rule.tags.needs_client_ids:
        try:
            clone(rule)(x, np.ones(len(x)))
        except AggregationError as exc:
            assert "client_ids" in str(exc)
        else:
            raise AssertionError("missing client_ids were accepted")


_COMMON: list[Check] = [
    check_output_shape_and_finite,
    check_input_untouched,
    check_identical_inputs,
    check_permutation_invariance,
    check_bounded_under_attack,
    check_refuses_nonfinite,
    check_refuses_too_few,
    check_refuses_bad_weights,
    check_float64_input,
    check_seeded,
    check_reset,
]


def aggregator_checks(agg: Aggregator) -> list[tuple[str, Check]]:
    """(name, check) pairs for one aggregator, e.g. to feed ``pytest.mark.parametrize``."""
    return [(c.__name__, c) for c in [*_COMMON, check_missing_context]]


def pre_aggregator_checks(pre: PreAggregator) -> list[tuple[str, Check]]:
    """(name, check) pairs for one pre-aggregator (robustness is checked through a median)."""
    return [(c.__name__, c) for c in _COMMON]


def check_aggregator(agg: Aggregator) -> None:
    """Run the whole contract on ``agg``; raises AssertionError naming the failed check."""
    for name, check in aggregator_checks(agg):
        try:
            check(agg)
        except AssertionError as exc:
            raise AssertionError(f"{agg!r} failed {name}: {exc}") from exc


def check_pre_aggregator(pre: PreAggregator) -> None:
    """Run the whole contract on ``pre``; raises AssertionError naming the failed check."""
    for name, check in pre_aggregator_checks(pre):
        try:
            check(pre)
        except AssertionError as exc:
            raise AssertionError(f"{pre!r} failed {name}: {exc}") from exc
