"""The messages that cross the site/server boundary.

Why a module of its own: the in-memory transport and the gRPC transport carry
exactly these objects, so the round engine never knows which one it runs on.
Parameters travel as one flat float32 vector (see ``models.params``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["FitIns", "FitRes", "EvaluateIns", "EvaluateRes", "SiteFailure"]


@dataclass(frozen=True)
class FitIns:
    """What the server sends a sampled site: the global model and how to train."""

    run_id: str
    round_num: int
    parameters: np.ndarray
    config: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FitRes:
    """A site's answer: its model delta (local - global), never its data."""

    site_id: str
    round_num: int
    delta: np.ndarray
    num_examples: int
    metrics: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EvaluateIns:
    run_id: str
    round_num: int
    parameters: np.ndarray


@dataclass(frozen=True)
class EvaluateRes:
    """Per-site test metrics plus the raw scores needed for pooled metrics."""

    site_id: str
    round_num: int
    num_examples: int
    metrics: dict[str, float]
    labels: np.ndarray | None = None
    scores: np.ndarray | None = None


@dataclass(frozen=True)
class SiteFailure:
    """A sampled site that did not answer; the round goes on while a quorum holds."""

    site_id: str
    round_num: int
    reason: str
