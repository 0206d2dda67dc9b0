"""A participating hospital, as the round engine sees it through a transport.

``Site.fit`` spells out the client-side order of a round:
load global model -> local training -> delta -> privacy (clip, noise) ->
secure-aggregation masking -> hand to transport. The last two are
``UpdateTransform`` objects so DP and SecAgg plug in without forking this code.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np
from torch import nn

from fedshield.client.trainer import TrainConfig, predict_proba, train_locally
from fedshield.data import SiteData
from fedshield.errors import ProtocolError
from fedshield.evaluation import binary_metrics
from fedshield.messages import EvaluateIns, EvaluateRes, FitIns, FitRes
from fedshield.models.params import get_flat_params, set_flat_params


class UpdateTransform(Protocol):
    """Changes a site's delta before it leaves the site (DP noise, masking)."""

    def __call__(self, delta: np.ndarray, *, round_num: int, num_examples: int) -> np.ndarray: ...


# What the coordinator may adjust per round (a learning-rate schedule, never above the
# site's own rate). Batch size, local steps and the rest stay the site's decision: a
# coordinator that could ask for one step on a batch of one would receive one patient's
# gradient, which Inverting Gradients turns back into the X-ray (benchmarks/privacy_attacks.py).
SERVER_ADJUSTABLE = frozenset({"learning_rate"})


def derive_seed(*parts: int) -> int:
    """Independent, reproducible seed streams per (run seed, site, round)."""
    return int(np.random.SeedSequence(list(parts)).generate_state(1)[0])


class Site:
    def __init__(
        self,
        *,
        data: SiteData,
        model_factory: Callable[[], nn.Module],
        train_config: TrainConfig,
        seed: int,
        site_index: int,
        transforms: Sequence[UpdateTransform] = (),
    ):
        self.site_id = data.site_id
        self.data = data
        self.model = model_factory()
        self.train_config = train_config
        self.seed = seed
        self.site_index = site_index
        self.transforms = list(transforms)
        # Replaceable training routine (same signature as ``train_locally``):
        # DP-SGD and adversarial training swap it without forking ``fit``.
        self.local_trainer = train_locally

    def _config_for(self, ins: FitIns) -> TrainConfig:
        """The round's training settings: the site's own, with the learning rate the server
        may lower. Anything else the server asks about local training is refused (zero trust)."""
        known = {f.name for f in dataclasses.fields(TrainConfig)}
        asked = {k: v for k, v in ins.config.items() if k in known}
        if not asked:
            return self.train_config
        refused = sorted(set(asked) - SERVER_ADJUSTABLE)
        if refused:
            shown = ", ".join(f"{k}={asked[k]!r}" for k in refused)
            raise ProtocolError(
                f"The server asked site {self.site_id!r} to train round {ins.round_num} with {shown}; refused. "
                "A site takes its batch size, local steps and the rest of local training from its own "
                "scenario (a server that could shrink the batch would receive per-patient gradients); "
                "the server may only lower the learning rate. Fix: change [client] in the consortium's "
                "scenario instead.")
        lr = asked["learning_rate"]
        own = self.train_config.learning_rate
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not 0 < lr <= own:
            raise ProtocolError(
                f"The server asked site {self.site_id!r} to train round {ins.round_num} with learning_rate="
                f"{lr!r}; refused. The server may only lower the learning rate: it must be a number in "
                f"(0, {own:g}], the site's configured [client] learning_rate.")
        return dataclasses.replace(self.train_config, learning_rate=float(lr))

    def train(self, ins: FitIns) -> tuple[np.ndarray, float]:
        """Local training only; returns (delta, mean loss). Attacks wrap this."""
        set_flat_params(self.model, ins.parameters)
        loss = self.local_trainer(
            self.model,
            self.data.x_train,
            self.data.y_train,
            self._config_for(ins),
            seed=derive_seed(self.seed, self.site_index, ins.round_num),
        )
        return get_flat_params(self.model) - ins.parameters, loss

    def fit(self, ins: FitIns) -> FitRes:
        delta, loss = self.train(ins)
        n = self.data.num_train
        for transform in self.transforms:
            delta = transform(delta, round_num=ins.round_num, num_examples=n)
        return FitRes(
            site_id=self.site_id,
            round_num=ins.round_num,
            delta=delta.astype(np.float32, copy=False),
            num_examples=n,
            metrics={"train_loss": loss},
        )

    def evaluate(self, ins: EvaluateIns) -> EvaluateRes:
        set_flat_params(self.model, ins.parameters)
        scores = predict_proba(self.model, self.data.x_test)
        return EvaluateRes(
            site_id=self.site_id,
            round_num=ins.round_num,
            num_examples=self.data.num_test,
            metrics=binary_metrics(self.data.y_test, scores),
            labels=self.data.y_test,
            scores=scores,
        )
