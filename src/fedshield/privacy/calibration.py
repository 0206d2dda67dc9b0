"""From a target (epsilon, delta) to a noise multiplier.

Why bisection on the analysis functions: epsilon is monotone decreasing in the
noise multiplier for every accountant here, and this way calibration and
reporting use the very same math.
"""

from __future__ import annotations

from fedshield.errors import ConfigError
from fedshield.privacy.analysis import epsilon

MAX_NOISE_MULTIPLIER = 1e4


def find_noise_multiplier(
    *,
    target_epsilon: float,
    delta: float,
    sample_rate: float,
    steps: int,
    accountant: str = "rdp",
    relative_tolerance: float = 0.005,
) -> float:
    """Smallest noise multiplier (within tolerance) whose epsilon after ``steps`` is <= target."""
    def eps(z: float) -> float:
        return epsilon([(z, sample_rate, steps)], delta=delta, accountant=accountant)

    high = 1.0
    if accountant != "rdp":  # RDP's epsilon bounds the tight ones from above: its noise is enough
        high = find_noise_multiplier(target_epsilon=target_epsilon, delta=delta, sample_rate=sample_rate,
                                     steps=steps, accountant="rdp", relative_tolerance=relative_tolerance)
    # Bracket geometrically, then bisect geometrically: epsilon varies over decades of noise.
    while eps(high) > target_epsilon:
        high *= 2
        if high > MAX_NOISE_MULTIPLIER:
            raise ConfigError(
                f"No noise multiplier up to {MAX_NOISE_MULTIPLIER:g} reaches epsilon={target_epsilon} at delta={delta} "
                f"over {steps} steps at sample_rate={sample_rate:.4g}; raise epsilon or delta, or train fewer steps."
            )
    low = high / 2
    while low > 1e-3 and eps(low) <= target_epsilon:
        low, high = low / 2, low
    while high / low > 1 + relative_tolerance:
        mid = (low * high) ** 0.5
        if eps(mid) > target_epsilon:
            low = mid
        else:
            high = mid
    return high
