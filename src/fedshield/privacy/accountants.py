"""Accountants record what each site has spent; the math lives in ``analysis``.

Why objects at all: a site's spend is a history that grows round by round, and
the budget gate asks "and after one more round?" without changing it.
"""

from __future__ import annotations

from fedshield.errors import param_error
from fedshield.privacy.analysis import EPSILON_FUNCTIONS, epsilon

__all__ = ["Accountant", "create_accountant", "ACCOUNTANTS"]

ACCOUNTANTS = tuple(EPSILON_FUNCTIONS)


class Accountant:
    def __init__(self, mechanism: str):
        if mechanism not in EPSILON_FUNCTIONS:
            raise param_error("accountant", "create_accountant", f"one of {list(ACCOUNTANTS)}", mechanism)
        self.mechanism = mechanism
        self.history: list[tuple[float, float, int]] = []

    def step(self, *, noise_multiplier: float, sample_rate: float, steps: int = 1) -> None:
        if steps <= 0:
            return
        last = self.history[-1] if self.history else None
        if last is not None and last[0] == noise_multiplier and last[1] == sample_rate:
            self.history[-1] = (noise_multiplier, sample_rate, last[2] + steps)  # keeps analysis cheap
        else:
            self.history.append((float(noise_multiplier), float(sample_rate), int(steps)))

    def get_epsilon(self, *, delta: float) -> float:
        return epsilon(self.history, delta=delta, accountant=self.mechanism)

    def epsilon_after(self, *, delta: float, noise_multiplier: float, sample_rate: float, steps: int) -> float:
        """Epsilon if ``steps`` more were spent; the history is left as it is."""
        return epsilon([*self.history, (noise_multiplier, sample_rate, steps)], delta=delta, accountant=self.mechanism)


def create_accountant(mechanism: str = "rdp") -> Accountant:
    return Accountant(mechanism)
