"""Mimic (Karimireddy, He & Jaggi, ICLR 2022): every attacker copies one honest site.

Why it hurts: under data heterogeneity, over-representing the one honest site
that sits farthest along the honest updates' main direction of spread biases
the aggregate without ever sending anything an outlier filter could flag.
The direction z is estimated online across rounds (a power-iteration step
per round) and the target is fixed once the warm-up is over.
"""

from __future__ import annotations

import numpy as np

from fedshield.redteam.craft.basic import _check


def mimic_direction(honest: np.ndarray, *, previous: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
    """One power-iteration step towards the top principal direction of the honest updates."""
    honest = _check(honest, "mimic_direction")
    centred = honest - honest.mean(axis=0)
    z = previous if previous is not None else rng.normal(size=honest.shape[1])
    z = centred.T @ (centred @ z) + (previous if previous is not None else 0.0)
    norm = float(np.linalg.norm(z))
    return z / norm if norm > 0 else rng.normal(size=honest.shape[1]) / np.sqrt(honest.shape[1])


def mimic_target(honest: np.ndarray, *, direction: np.ndarray) -> int:
    """Index of the honest update lying farthest along ``direction`` (either sign)."""
    honest = _check(honest, "mimic_target")
    return int(np.argmax(np.abs((honest - honest.mean(axis=0)) @ direction)))
