"""Federated evaluation of the global model: per site, pooled, FLamby's mean.

Sites score their own test split and return labels and probabilities of the test
examples (no training data); the pooled figures are computed from those. Where a
canonical central test split exists (PneumoniaMNIST), the server scores it too.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from torch import nn

from fedshield.client.trainer import predict_proba
from fedshield.evaluation import binary_metrics, summarize_sites
from fedshield.messages import EvaluateIns, EvaluateRes
from fedshield.models.params import set_flat_params
from fedshield.transport.base import Transport


class FederatedEvaluator:
    def __init__(
        self,
        *,
        transport: Transport,
        model_factory: Callable[[], nn.Module],
        central_test: tuple[np.ndarray, np.ndarray] | None = None,
    ):
        self.transport = transport
        self.model = model_factory()
        self.central_test = central_test

    def evaluate(self, *, run_id: str, round_num: int, parameters: np.ndarray) -> dict:
        ins = EvaluateIns(run_id=run_id, round_num=round_num, parameters=parameters)
        answers = self.transport.evaluate(self.transport.site_ids(), ins)
        ok = [a for a in answers if isinstance(a, EvaluateRes)]
        per_site = {a.site_id: a.metrics for a in ok}
        out: dict = {"per_site": per_site, **summarize_sites(list(per_site.values()))}
        with_scores = [a for a in ok if a.scores is not None]
        if with_scores:
            labels = np.concatenate([a.labels for a in with_scores])
            scores = np.concatenate([a.scores for a in with_scores])
            out["pooled"] = binary_metrics(labels, scores)
        if self.central_test is not None:
            set_flat_params(self.model, parameters)
            x, y = self.central_test
            out["central_test"] = binary_metrics(y, predict_proba(self.model, x))
        return out
