"""Per-site reputation across rounds: an exponential moving average of outcomes."""

from __future__ import annotations

from fedshield.errors import ConfigError, param_error

__all__ = ["ReputationBook", "OUTCOME"]

# How much each decision counts towards a site's reputation (1 = clean).
OUTCOME = {"accepted": 1.0, "clipped": 0.5, "rejected": 0.0}


class ReputationBook:
    """reputation <- (1 - alpha) * reputation + alpha * outcome, starting at ``initial``.

    Why an EMA: one bad round (a flaky network, a noisy batch) costs little,
    a site that keeps failing sinks below ``threshold`` within a few rounds, and
    a refused site that behaves again recovers at the same pace.
    """

    def __init__(self, *, alpha: float = 0.3, initial: float = 1.0, threshold: float = 0.5) -> None:
        for name, value in (("alpha", alpha), ("initial", initial), ("threshold", threshold)):
            if not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 1.0:
                raise param_error(name, "ReputationBook", "a float in [0, 1]", value, cls=ConfigError)
        if alpha == 0:
            raise param_error("alpha", "ReputationBook", "a float in (0, 1]", alpha, cls=ConfigError)
        self.alpha, self.initial, self.threshold = float(alpha), float(initial), float(threshold)
        self._scores: dict[str, float] = {}

    def score(self, site_id: str) -> float:
        return self._scores.get(site_id, self.initial)

    def trusted(self, site_id: str) -> bool:
        return self.score(site_id) >= self.threshold

    def record(self, site_id: str, outcome: float) -> float:
        """Fold one round's outcome (0..1) into the site's reputation; returns the new value."""
        new = (1.0 - self.alpha) * self.score(site_id) + self.alpha * float(outcome)
        self._scores[site_id] = new
        return new

    def snapshot(self) -> dict[str, float]:
        return dict(self._scores)
