"""Privacy random variables (Gopi et al. 2021), via Opacus's PRV accountant.

The accountant object is built and dropped inside the call: nothing outlives it.
"""

from __future__ import annotations

from opacus.accountants import PRVAccountant

EPS_ERROR = 0.01  # Opacus's default: absolute error of the upper bound returned


def epsilon(history, *, delta: float) -> float:
    acc = PRVAccountant()
    acc.history = [(float(s), float(q), int(n)) for s, q, n in history]
    return float(acc.get_epsilon(delta=delta, eps_error=EPS_ERROR))
