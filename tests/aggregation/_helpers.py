"""Shared test data: example parameters for every registered rule, honest updates."""

from __future__ import annotations

import numpy as np

# Every registered rule needs an entry here (test_contract checks that), so a
# new rule cannot slip past the contract suite.
AGGREGATOR_EXAMPLES: dict[str, dict] = {
    "mean": {},
    "median": {},
    "trimmed_mean": {"f": 2},
    "krum": {"f": 2},
    "multi_krum": {"f": 2},
    "bulyan": {"f": 1},
    "geometric_median": {},
    "centered_clipping": {},
    "fltrust": {},
    "foolsgold": {},
    "flame": {"seed": 0},
}
PRE_AGGREGATOR_EXAMPLES: dict[str, dict] = {
    "nnm": {"f": 2},
    "bucketing": {"bucket_size": 2, "seed": 0},
    "arc": {"f": 2},
    "norm_bound": {"max_norm_l2": 100.0},
}


def honest_updates(n: int, d: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (0.5 * rng.normal(size=d) + 0.3 * rng.normal(size=(n, d))).astype(np.float32)
