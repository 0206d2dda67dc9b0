"""Per-update verdicts and the screening result handed to the aggregator."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

__all__ = ["Decision", "Verdict", "ScreeningResult"]

Decision = Literal["accepted", "clipped", "rejected"]
_SCORE_CAP = 1e6


def _json_float(value: float) -> float | None:
    """JSON has no NaN/Inf: cap infinities, turn NaN into None."""
    if math.isnan(value):
        return None
    return float(max(-_SCORE_CAP, min(_SCORE_CAP, value)))


@dataclass(frozen=True)
class Verdict:
    """What happened to one site's update this round, and why (for the audit log)."""

    site_id: str
    decision: Decision
    reason: str
    scores: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-serialisable form (scores capped to +/-1e6, NaN as null)."""
        return {
            "site_id": self.site_id,
            "decision": self.decision,
            "reason": self.reason,
            "scores": {k: _json_float(float(v)) for k, v in self.scores.items()},
        }


@dataclass(frozen=True)
class ScreeningResult:
    """Updates that survived screening (clipped ones already clipped) plus every verdict.

    ``updates`` is (m, d) float32 with m = number of non-rejected updates, in
    input order; ``weights`` and ``site_ids`` are aligned with it; ``verdicts``
    has one entry per input update, in input order.
    """

    updates: np.ndarray
    weights: np.ndarray
    site_ids: list[str]
    verdicts: list[Verdict]
    round_num: int

    @property
    def rejected(self) -> list[str]:
        return [v.site_id for v in self.verdicts if v.decision == "rejected"]

    def counts(self) -> dict[str, int]:
        out = {"accepted": 0, "clipped": 0, "rejected": 0}
        for v in self.verdicts:
            out[v.decision] += 1
        return out

    def to_dict(self) -> dict:
        """JSON-serialisable summary (no update payloads)."""
        return {"round": self.round_num, "counts": self.counts(), "verdicts": [v.to_dict() for v in self.verdicts]}
