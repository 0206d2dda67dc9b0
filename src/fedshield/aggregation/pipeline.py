"""RobustPipeline: pre-aggregators chained in front of one aggregator, one call signature."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from fedshield.aggregation._validation import as_updates, as_weights
from fedshield.aggregation.base import (
    Aggregator,
    PreAggregator,
    create_aggregator,
    create_pre_aggregator,
)
from fedshield.errors import ConfigError

__all__ = ["RobustPipeline"]


def _as_spec(item: Any, kind: str) -> tuple[str, dict[str, Any]]:
    if isinstance(item, str):
        return item, {}
    if isinstance(item, Mapping) and isinstance(item.get("name"), str):
        params = dict(item)
        return params.pop("name"), params
    raise ConfigError(
        f"The {kind!r} entry of RobustPipeline.from_config must be a name or a mapping with a "
        f"'name' key and the rule's parameters. Got {item!r} instead."
    )


class RobustPipeline:
    """``aggregator(pre_k(...pre_1(updates)))`` with weights and ids threaded through.

    The round engine calls every robust rule through this one signature. Client
    ids reach the aggregator only if every pre-aggregator keeps rows aligned
    with sites (bucketing does not). ``rng`` is handed to every randomised
    stage; when it is None each stage uses its own (optionally seeded) generator.
    """

    def __init__(self, *, aggregator: Aggregator | str, pre: Sequence[PreAggregator | str] = ()) -> None:
        self.aggregator = create_aggregator(aggregator) if isinstance(aggregator, str) else aggregator
        self.pre = [create_pre_aggregator(p) if isinstance(p, str) else p for p in pre]
        if not isinstance(self.aggregator, Aggregator):
            raise ConfigError(
                "The 'aggregator' parameter of RobustPipeline must be an Aggregator or a registered name. "
                f"Got {type(self.aggregator).__name__} instead."
            )
        for p in self.pre:
            if not isinstance(p, PreAggregator):
                raise ConfigError(
                    "The 'pre' parameter of RobustPipeline must hold PreAggregators or registered names. "
                    f"Got {type(p).__name__} instead."
                )

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> RobustPipeline:
        """Build from ``{"aggregator": {"name": "krum", "f": 2}, "pre": [{"name": "nnm", "f": 2}]}``.

        Entries may also be bare names when the rule needs no parameters.
        """
        name, params = _as_spec(config.get("aggregator"), "aggregator")
        pre = [create_pre_aggregator(n, **p) for n, p in (_as_spec(i, "pre") for i in config.get("pre", ()))]
        return cls(aggregator=create_aggregator(name, **params), pre=pre)

    def __call__(
        self,
        updates: np.ndarray,
        weights: np.ndarray | None = None,
        *,
        client_ids: Sequence[str] | None = None,
        reference: np.ndarray | None = None,
        rng: np.random.Generator | None = None,
    ) -> np.ndarray:
        """Aggregate (n, d) updates into a (d,) float32 update. Inputs are never modified."""
        x = as_updates(updates, owner="RobustPipeline")
        w = as_weights(weights, x.shape[0], owner="RobustPipeline")
        ids = client_ids
        for stage in self.pre:
            x, w = stage(x, w, rng=rng)
            if not stage.tags.preserves_rows:
                ids = None
        return self.aggregator(x, w, client_ids=ids, reference=reference, rng=rng)

    def min_updates(self) -> int:
        """Smallest n the first stage accepts (later stages are checked when called)."""
        first = self.pre[0] if self.pre else self.aggregator
        return first.min_updates()

    def reset(self) -> None:
        """Forget cross-round state in every stage."""
        for stage in [*self.pre, self.aggregator]:
            stage.reset()

    def __repr__(self) -> str:
        return f"RobustPipeline(pre={self.pre!r}, aggregator={self.aggregator!r})"
