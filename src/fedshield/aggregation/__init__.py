"""Byzantine-robust aggregation: kernels, pre-aggregators, rules and pipelines.

Round engine entry point::

    from fedshield.aggregation import RobustPipeline, create_aggregator, create_pre_aggregator
    pipe = RobustPipeline(pre=[create_pre_aggregator("nnm", f=2)], aggregator=create_aggregator("krum", f=2))
    update = pipe(updates, weights, client_ids=ids, reference=None, rng=rng)  # (d,) float32

Pure functions live in ``fedshield.aggregation.kernels``; plain reference
implementations in ``fedshield.aggregation.reference``; the reusable contract
checks in ``fedshield.aggregation.checks``.
"""

from fedshield.aggregation import pre as _pre  # noqa: F401  (registers pre-aggregators)
from fedshield.aggregation import rules as _rules  # noqa: F401  (registers aggregators)
from fedshield.aggregation.base import (
    Aggregator,
    PreAggregator,
    RuleTags,
    clone,
    create_aggregator,
    create_pre_aggregator,
    list_aggregators,
    list_pre_aggregators,
    register_aggregator,
    register_pre_aggregator,
)
from fedshield.aggregation.pipeline import RobustPipeline
from fedshield.aggregation.pre import AdaptiveRobustClipping, Bucketing, NearestNeighborMixing, NormBound
from fedshield.aggregation.rules import (
    FLAME,
    Bulyan,
    CenteredClipping,
    CoordinateMedian,
    FLTrust,
    FoolsGold,
    GeometricMedian,
    Krum,
    MultiKrum,
    TrimmedMean,
    WeightedMean,
)

__all__ = [
    "Aggregator",
    "PreAggregator",
    "RuleTags",
    "RobustPipeline",
    "clone",
    "create_aggregator",
    "create_pre_aggregator",
    "list_aggregators",
    "list_pre_aggregators",
    "register_aggregator",
    "register_pre_aggregator",
    "WeightedMean",
    "CoordinateMedian",
    "TrimmedMean",
    "Krum",
    "MultiKrum",
    "Bulyan",
    "GeometricMedian",
    "CenteredClipping",
    "FLTrust",
    "FoolsGold",
    "FLAME",
    "NearestNeighborMixing",
    "Bucketing",
    "AdaptiveRobustClipping",
    "NormBound",
]
