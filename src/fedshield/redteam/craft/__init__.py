"""Attack math: pure numpy functions on (n, d) update matrices.

Why pure: the same functions are unit-tested against the papers' definitions,
used by the simulation's adversarial transport, and reusable on updates
recorded from a real deployment.
"""

from fedshield.redteam.craft.basic import alie, alie_z, gaussian, ipm, sign_flip
from fedshield.redteam.craft.agr import fang_trim, min_max, min_sum, perturbation
from fedshield.redteam.craft.mimic import mimic_direction, mimic_target
from fedshield.redteam.craft.scaling import replacement_scale

__all__ = [
    "alie",
    "alie_z",
    "fang_trim",
    "gaussian",
    "ipm",
    "mimic_direction",
    "mimic_target",
    "min_max",
    "min_sum",
    "perturbation",
    "replacement_scale",
    "sign_flip",
]
