"""Pure aggregation kernels: arrays in, arrays out, no state, no I/O.

Every kernel takes a stacked (n, d) float32 ``updates`` array, never writes to
it, and refuses NaN/Inf with ``AggregationError``. The thin rule objects in
``fedshield.aggregation.rules`` add parameters, state and a registry on top.
"""

from fedshield.aggregation.kernels.arc import adaptive_robust_clipping, arc_clip_count
from fedshield.aggregation.kernels.bucketing import bucketing
from fedshield.aggregation.kernels.bulyan import bulyan, bulyan_select
from fedshield.aggregation.kernels.centered_clipping import centered_clipping
from fedshield.aggregation.kernels.flame import flame, flame_admitted
from fedshield.aggregation.kernels.fltrust import fltrust
from fedshield.aggregation.kernels.foolsgold import foolsgold, foolsgold_learning_rates
from fedshield.aggregation.kernels.geometric_median import geometric_median
from fedshield.aggregation.kernels.krum import krum, krum_scores, multi_krum
from fedshield.aggregation.kernels.mean import weighted_mean
from fedshield.aggregation.kernels.median import coordinate_median
from fedshield.aggregation.kernels.nnm import nearest_neighbor_mixing
from fedshield.aggregation.kernels.norm_bound import norm_bound
from fedshield.aggregation.kernels.trimmed_mean import trimmed_mean

__all__ = [
    "adaptive_robust_clipping",
    "arc_clip_count",
    "bucketing",
    "bulyan",
    "bulyan_select",
    "centered_clipping",
    "coordinate_median",
    "flame",
    "flame_admitted",
    "fltrust",
    "foolsgold",
    "foolsgold_learning_rates",
    "geometric_median",
    "krum",
    "krum_scores",
    "multi_krum",
    "nearest_neighbor_mixing",
    "norm_bound",
    "trimmed_mean",
    "weighted_mean",
]
