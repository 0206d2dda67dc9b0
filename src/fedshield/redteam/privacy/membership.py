"""Membership inference against a (global) model: loss threshold and offline LiRA.

Why both: the loss threshold (Yeom et al. 2018) is the cheap baseline every
auditor expects; offline LiRA (Carlini et al. 2022) is the attack whose
low-FPR numbers actually say whether *some* patients are exposed, which an
AUC near 0.5 can hide. Offline because the attacker (a curious server) cannot
retrain on every target, only on population data it already holds.

All scores follow one convention: higher means "more likely a member".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy.stats import norm
from torch import nn

from fedshield.errors import param_error
from fedshield.redteam.privacy.metrics import roc_auc, roc_curve, tpr_at_fpr

__all__ = [
    "MIAResult",
    "evaluate_mia",
    "per_example_loss",
    "signed_logit",
    "loss_threshold_scores",
    "yeom_predict",
    "train_shadow_models",
    "lira_offline_scores",
]


@dataclass(frozen=True)
class MIAResult:
    auc: float
    tpr_at_1pct_fpr: float
    tpr_at_01pct_fpr: float
    fpr: np.ndarray
    tpr: np.ndarray

    def as_dict(self) -> dict:
        return {"auc": self.auc, "tpr_at_1pct_fpr": self.tpr_at_1pct_fpr,
                "tpr_at_0.1pct_fpr": self.tpr_at_01pct_fpr}


def evaluate_mia(scores: np.ndarray, is_member: np.ndarray) -> MIAResult:
    fpr, tpr = roc_curve(scores, is_member)
    return MIAResult(
        auc=roc_auc(scores, is_member),
        tpr_at_1pct_fpr=tpr_at_fpr(scores, is_member, 0.01),
        tpr_at_01pct_fpr=tpr_at_fpr(scores, is_member, 0.001),
        fpr=fpr,
        tpr=tpr,
    )


@torch.no_grad()
def _logits(model: nn.Module, x: np.ndarray, batch_size: int = 512) -> np.ndarray:
    model.eval()
    out = [model(torch.as_tensor(np.asarray(x[i : i + batch_size], dtype=np.float32))).reshape(-1)
           for i in range(0, len(x), batch_size)]
    return torch.cat(out).double().numpy() if out else np.zeros(0)


def signed_logit(model: nn.Module, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """LiRA's logit-scaled confidence ``log(p_y / (1 - p_y))``.

    For a one-logit model this is exactly ``z`` if y = 1 and ``-z`` if y = 0,
    so no softmax round-trip and no numerical clipping is needed.
    """
    z = _logits(model, x)
    y = np.asarray(y).reshape(-1)
    if y.shape != z.shape:
        raise param_error("y", "signed_logit", f"{z.shape[0]} labels", y.shape)
    return np.where(y == 1, z, -z)


def per_example_loss(model: nn.Module, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-example BCE, computed stably from the signed logit: softplus(-phi)."""
    return np.logaddexp(0.0, -signed_logit(model, x, y))


def loss_threshold_scores(model: nn.Module, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Yeom et al.: members have lower loss; the score is minus the loss."""
    return -per_example_loss(model, x, y)


def yeom_predict(model: nn.Module, x: np.ndarray, y: np.ndarray, mean_train_loss: float) -> np.ndarray:
    """Yeom's original decision: member iff loss <= the model's mean training loss."""
    return per_example_loss(model, x, y) <= mean_train_loss


def train_shadow_models(
    model_factory: Callable[[int], nn.Module],
    train_fn: Callable[[nn.Module, np.ndarray, np.ndarray, int], None],
    population_x: np.ndarray,
    population_y: np.ndarray,
    *,
    num_shadows: int = 4,
    fraction: float = 0.5,
    seed: int = 0,
) -> list[nn.Module]:
    """Shadow ("OUT") models on random subsets of the attacker's population data.

    ``model_factory(seed)`` builds a fresh model and ``train_fn(model, x, y,
    seed)`` trains it in place; the caller chooses them to mimic the target's
    training recipe. The targets must not be in the population data: offline
    LiRA only ever models the OUT distribution.
    """
    if num_shadows < 1:
        raise param_error("num_shadows", "train_shadow_models", "an int >= 1", num_shadows)
    if not 0 < fraction <= 1:
        raise param_error("fraction", "train_shadow_models", "a float in (0, 1]", fraction)
    n = len(population_y)
    k = max(1, int(round(fraction * n)))
    rng = np.random.default_rng(seed)
    shadows = []
    for i in range(num_shadows):
        idx = np.sort(rng.choice(n, size=k, replace=False))
        model = model_factory(seed * 1000 + i)
        train_fn(model, population_x[idx], population_y[idx], seed * 1000 + i)
        shadows.append(model)
    return shadows


def lira_offline_scores(
    target_model: nn.Module,
    shadow_models: Sequence[nn.Module],
    x: np.ndarray,
    y: np.ndarray,
    *,
    global_variance: bool = True,
) -> np.ndarray:
    """Offline LiRA: one-sided likelihood test against a Gaussian fit of OUT confidences.

    ``global_variance=True`` pools the variance over all targets, which
    Carlini et al. recommend below ~64 shadow models (a per-example variance
    from 4-8 samples is too noisy). Score = log P(phi_OUT <= phi_target).
    """
    if len(shadow_models) < 1:
        raise param_error("shadow_models", "lira_offline_scores", "at least one model", 0)
    phi = signed_logit(target_model, x, y)
    out = np.stack([signed_logit(m, x, y) for m in shadow_models])  # (S, n)
    mu = out.mean(axis=0)
    if out.shape[0] < 2:
        sd = np.full_like(mu, max(float(out.std()), 1e-6))  # one shadow: spread over targets
    elif global_variance:
        pooled = float(np.sqrt(out.var(axis=0, ddof=1).mean()))
        sd = np.full_like(mu, max(pooled, 1e-6))
    else:
        sd = np.maximum(out.std(axis=0, ddof=1), 1e-6)
    return norm.logcdf((phi - mu) / sd)
