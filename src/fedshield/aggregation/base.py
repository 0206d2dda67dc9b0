"""Base classes, tags and the registry for aggregation rules.

Why: like scikit-learn estimators, rules are thin objects with keyword-only
parameters, ``get_params`` and declared tags, so a pipeline can chain them, the
contract suite (``checks.py``) can test any of them, and plugins register new
ones by name without touching FedShield.
"""

from __future__ import annotations

import abc
import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from fedshield.aggregation._validation import as_updates, as_weights, require
from fedshield.errors import ConfigError

__all__ = [
    "RuleTags",
    "Aggregator",
    "PreAggregator",
    "register_aggregator",
    "register_pre_aggregator",
    "create_aggregator",
    "create_pre_aggregator",
    "list_aggregators",
    "list_pre_aggregators",
    "clone",
]


@dataclass(frozen=True)
class RuleTags:
    """What a rule promises, read by the pipeline and the contract checks.

    permutation_invariant: reordering the sites (with their weights and ids)
        does not change the result.
    uses_weights: example counts influence the result.
    robust: the result stays bounded when f inputs are huge.
    exact_identity: n identical inputs give that input back (noise-free rules).
    stateful: keeps state across rounds (reset() clears it).
    needs_reference: needs the server's ``reference`` update.
    needs_client_ids: needs ``client_ids`` (state keyed by client).
    randomized: draws from ``rng`` (seeded: same seed, same result).
    preserves_rows: pre-aggregators only: output row i still belongs to site i.
    """

    permutation_invariant: bool = True
    uses_weights: bool = False
    robust: bool = True
    exact_identity: bool = True
    stateful: bool = False
    needs_reference: bool = False
    needs_client_ids: bool = False
    randomized: bool = False
    preserves_rows: bool = True


class _Rule:
    """What aggregators and pre-aggregators share: params, preconditions, state reset."""

    name: ClassVar[str] = ""
    tags: ClassVar[RuleTags] = RuleTags()

    def get_params(self) -> dict[str, Any]:
        """Constructor parameters (as given), so ``type(self)(**get_params())`` clones."""
        sig = inspect.signature(type(self).__init__)
        return {p: getattr(self, p) for p in sig.parameters if p != "self"}

    def min_updates(self) -> int:
        """Smallest n this rule accepts with its current parameters."""
        return 1

    def reset(self) -> None:
        """Forget cross-round state (no-op for stateless rules)."""

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"

    def requirement(self) -> str:
        """The precondition on n in words, e.g. ``"2f + 3"``."""
        return str(self.min_updates())

    def _check_n(self, n: int) -> None:
        need = self.min_updates()
        f = getattr(self, "f", None)
        got = f"n={n}" if f is None else f"n={n}, f={f}"
        require(
            n >= need,
            f"{type(self).__name__} needs n >= {self.requirement()} updates; got {got}. "
            + ("Lower f or add sites." if f is not None else "Add sites."),
        )


class Aggregator(_Rule, abc.ABC):
    """Turns (n, d) updates into one (d,) float32 update."""

    def __call__(
        self,
        updates: np.ndarray,
        weights: np.ndarray | None = None,
        *,
        client_ids: Sequence[str] | None = None,
        reference: np.ndarray | None = None,
        rng: np.random.Generator | None = None,
    ) -> np.ndarray:
        """Aggregate (n, d) updates into one (d,) float32 update.

        ``weights`` are example counts (uniform if None; only rules tagged
        ``uses_weights`` let them change the result). ``client_ids`` feed
        stateful rules, ``reference`` is the server's root-data update
        (FLTrust), ``rng`` drives randomised rules. Inputs are never modified;
        bad input or unmet preconditions raise ``AggregationError``.
        """
        x = as_updates(updates, owner=type(self).__name__)
        w = as_weights(weights, x.shape[0], owner=type(self).__name__)
        self._check_n(x.shape[0])
        return self._aggregate(x, w, client_ids=client_ids, reference=reference, rng=rng)

    @abc.abstractmethod
    def _aggregate(self, x, w, *, client_ids, reference, rng) -> np.ndarray: ...


class PreAggregator(_Rule, abc.ABC):
    """Transforms (n, d) updates + weights into (n', d) updates + weights for the next stage."""

    def __call__(
        self,
        updates: np.ndarray,
        weights: np.ndarray | None = None,
        *,
        rng: np.random.Generator | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return new (n', d) float32 updates and their (n',) weights; inputs are never modified."""
        x = as_updates(updates, owner=type(self).__name__)
        w = as_weights(weights, x.shape[0], owner=type(self).__name__)
        self._check_n(x.shape[0])
        return self._transform(x, w, rng=rng)

    @abc.abstractmethod
    def _transform(self, x, w, *, rng) -> tuple[np.ndarray, np.ndarray]: ...


_AGGREGATORS: dict[str, type[Aggregator]] = {}
_PRE_AGGREGATORS: dict[str, type[PreAggregator]] = {}


def register_aggregator(cls: type[Aggregator]) -> type[Aggregator]:
    """Class decorator: make ``cls`` available as ``create_aggregator(cls.name)``."""
    _AGGREGATORS[cls.name] = cls
    return cls


def register_pre_aggregator(cls: type[PreAggregator]) -> type[PreAggregator]:
    """Class decorator: make ``cls`` available as ``create_pre_aggregator(cls.name)``."""
    _PRE_AGGREGATORS[cls.name] = cls
    return cls


def _create(table: dict, kind: str, name: str, params: dict[str, Any]):
    if name not in table:
        raise ConfigError(
            f"The 'name' parameter of create_{kind} must be one of {sorted(table)}. Got {name!r} instead."
        )
    try:
        return table[name](**params)
    except TypeError as exc:
        allowed = [p for p in inspect.signature(table[name].__init__).parameters if p != "self"]
        raise ConfigError(
            f"The parameters of {kind} {name!r} must be among {allowed} (keyword-only). "
            f"Got {sorted(params)} instead."
        ) from exc


def create_aggregator(name: str, **params: Any) -> Aggregator:
    """Build a registered aggregator, e.g. ``create_aggregator("krum", f=2)``."""
    return _create(_AGGREGATORS, "aggregator", name, params)


def create_pre_aggregator(name: str, **params: Any) -> PreAggregator:
    """Build a registered pre-aggregator, e.g. ``create_pre_aggregator("nnm", f=2)``."""
    return _create(_PRE_AGGREGATORS, "pre_aggregator", name, params)


def list_aggregators() -> list[str]:
    """Names accepted by ``create_aggregator``."""
    return sorted(_AGGREGATORS)


def list_pre_aggregators() -> list[str]:
    """Names accepted by ``create_pre_aggregator``."""
    return sorted(_PRE_AGGREGATORS)


def clone(rule: _Rule) -> _Rule:
    """A fresh, state-free rule with the same parameters."""
    return type(rule)(**rule.get_params())
