"""Pure privacy math: a history of Gaussian mechanisms in, epsilon out.

Why apart from the accountants: these functions hold no state, so calibration,
the budget gate's "what if we trained one more round" and the tests can all call
them freely. A history is a list of ``(noise_multiplier, sample_rate, steps)``:
``steps`` compositions of a Poisson-subsampled Gaussian mechanism with that noise
multiplier (noise std / sensitivity) and sampling probability.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache

from fedshield.privacy.analysis import pld, prv, rdp

History = Sequence[tuple[float, float, int]]

EPSILON_FUNCTIONS: dict[str, Callable[..., float]] = {
    "rdp": rdp.epsilon,
    "pld": pld.epsilon,
    "prv": prv.epsilon,
}

__all__ = ["EPSILON_FUNCTIONS", "History", "epsilon"]


def epsilon(history: History, *, delta: float, accountant: str = "rdp") -> float:
    """Epsilon spent by ``history`` at ``delta``, by the named analysis (0 when empty)."""
    if not history:
        return 0.0
    key = tuple((float(z), float(q), int(n)) for z, q, n in history)
    return _cached(key, float(delta), accountant)


@lru_cache(maxsize=8192)
def _cached(history: tuple, delta: float, accountant: str) -> float:
    """The budget gate asks "after one more round?" and then "after this round?": same answer."""
    return EPSILON_FUNCTIONS[accountant](history, delta=delta)
