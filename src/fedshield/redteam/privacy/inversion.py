"""Gradient inversion against one site's shared update (DLG, iDLG, Inverting Gradients).

Why this exists: FedShield claims that an honest-but-curious server learns
nothing about a patient from a site's update unless DP or secure aggregation
is on. These attacks make that claim falsifiable. Everything here is pure
tensor math (no plotting, no files) so the red-team CLI and the benchmark
share it.

Threat model: the server knows the global parameters it sent, the model
architecture, the loss (mean BCE on one logit), and for FedAvg updates the
local schedule (steps, learning rate, minibatch size) -- as Geiping et al.
(2020) assume. It sees either a gradient (FedSGD) or a parameter delta
(FedAvg, ``theta_K - theta_0``).

Adaptation of iDLG (Zhao et al. 2020) to the one-logit BCE models: with
``p = sigmoid(z)`` the last-layer bias gradient of one example is ``p - y``,
which is negative iff ``y = 1`` for any prediction strictly inside (0, 1).
So for batch 1 the sign of the output-bias gradient gives the label exactly;
for a FedAvg delta (``-lr * sum of gradients``) the sign flips. For batches
> 1 the bias gradient is ``mean(p) - mean(y)``; we estimate ``mean(p)`` from
the model's outputs on random inputs and recover the *count* of positives,
which is all any permutation-invariant update can reveal.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import torch
from torch import nn
from torch.func import functional_call

from fedshield.errors import param_error

__all__ = [
    "InversionConfig",
    "InversionResult",
    "shared_gradient",
    "fedavg_update",
    "recover_labels",
    "invert_update",
    "dlg",
    "inverting_gradients",
    "DLG_CONFIG",
    "DLG_LBFGS_CONFIG",
    "INVERTING_GRADIENTS_CONFIG",
]

UpdateKind = Literal["gradient", "delta"]


@dataclass(frozen=True)
class InversionConfig:
    """How the attacker optimizes dummy inputs to reproduce an update.

    ``cost``: 'l2' (DLG, Zhu et al. 2019) or 'cosine' (Geiping et al. 2020:
    angle, not magnitude, carries the input information once the model is
    trained). ``tv_weight``: total-variation image prior. ``box``: project onto
    [0, 1] after each step. ``signed_gradients``: Geiping's signed Adam steps.
    """

    cost: Literal["l2", "cosine"] = "cosine"
    optimizer: Literal["adam", "lbfgs"] = "adam"
    iterations: int = 1000
    learning_rate: float = 0.1
    tv_weight: float = 1e-4
    restarts: int = 1
    box: bool = True
    signed_gradients: bool = True
    lr_decay: bool = True

    def __post_init__(self) -> None:
        if self.cost not in ("l2", "cosine"):
            raise param_error("cost", "InversionConfig", "'l2' or 'cosine'", self.cost)
        if self.optimizer not in ("adam", "lbfgs"):
            raise param_error("optimizer", "InversionConfig", "'adam' or 'lbfgs'", self.optimizer)
        if self.iterations < 1:
            raise param_error("iterations", "InversionConfig", "an int >= 1", self.iterations)
        if self.restarts < 1:
            raise param_error("restarts", "InversionConfig", "an int >= 1", self.restarts)
        if not self.learning_rate > 0:
            raise param_error("learning_rate", "InversionConfig", "a float > 0", self.learning_rate)
        if self.tv_weight < 0:
            raise param_error("tv_weight", "InversionConfig", "a float >= 0", self.tv_weight)


# DLG proper: L2 matching, no prior, no box. Adam rather than the paper's
# L-BFGS by default because on ReLU networks torch's L-BFGS stalls after a few
# line searches (Geiping et al. report the same); ``optimizer="lbfgs"`` is kept.
DLG_CONFIG = InversionConfig(
    cost="l2", optimizer="adam", iterations=300, learning_rate=0.05, tv_weight=0.0,
    restarts=1, box=False, signed_gradients=False, lr_decay=True,
)
DLG_LBFGS_CONFIG = InversionConfig(
    cost="l2", optimizer="lbfgs", iterations=300, learning_rate=1.0, tv_weight=0.0,
    restarts=1, box=False, signed_gradients=False, lr_decay=False,
)
INVERTING_GRADIENTS_CONFIG = InversionConfig()


@dataclass(frozen=True)
class InversionResult:
    images: np.ndarray  # (B, *input_shape) float32 in [0, 1]
    labels: np.ndarray  # (B,) int64, recovered (iDLG) or as given
    cost: float  # final matching cost of the best restart
    seconds: float


# --------------------------------------------------------------------------- helpers


def _params(model: nn.Module) -> "OrderedDict[str, torch.Tensor]":
    return OrderedDict((n, p.detach().clone()) for n, p in model.named_parameters())


def _check_params_only(model: nn.Module, owner: str) -> None:
    names = [n for n, _ in model.named_parameters()]
    if list(model.state_dict().keys()) != names:
        raise param_error(
            "model", owner, "a model whose state is its parameters only (no buffers)",
            type(model).__name__,
        )


def _unflatten(model: nn.Module, flat: np.ndarray, owner: str) -> "OrderedDict[str, torch.Tensor]":
    """Split a flat wire-format vector (state_dict order) into per-parameter tensors."""
    _check_params_only(model, owner)
    params = list(model.named_parameters())
    total = sum(p.numel() for _, p in params)
    flat = np.asarray(flat, dtype=np.float32).reshape(-1)
    if flat.shape[0] != total:
        raise param_error("update", owner, f"a flat vector of {total} values", flat.shape)
    out: OrderedDict[str, torch.Tensor] = OrderedDict()
    offset = 0
    src = torch.from_numpy(np.ascontiguousarray(flat))
    for name, p in params:
        out[name] = src[offset : offset + p.numel()].view_as(p).clone()
        offset += p.numel()
    return out


def _flatten(tensors) -> np.ndarray:
    return torch.cat([t.detach().reshape(-1) for t in tensors]).numpy().astype(np.float32)


def _bce(model: nn.Module, params, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    logits = functional_call(model, params, (x,))
    return nn.functional.binary_cross_entropy_with_logits(logits.reshape(-1), y.reshape(-1))


def _minibatches(n: int, local_steps: int, minibatch_size: int | None) -> list[slice]:
    """A fixed cyclic schedule both the victim and the attacker know."""
    mb = n if minibatch_size is None else min(minibatch_size, n)
    per_pass = max(1, n // mb)
    return [slice((s % per_pass) * mb, (s % per_pass) * mb + mb) for s in range(local_steps)]


def _simulate_delta(model, params, x, y, *, local_steps, local_lr, minibatch_size, create_graph):
    """Local SGD as a differentiable function of the data (Geiping's multi-step attack)."""
    current = OrderedDict(params)
    for sl in _minibatches(x.shape[0], local_steps, minibatch_size):
        loss = _bce(model, current, x[sl], y[sl])
        grads = torch.autograd.grad(loss, list(current.values()), create_graph=create_graph)
        current = OrderedDict((n, p - local_lr * g) for (n, p), g in zip(current.items(), grads))
    return [current[n] - params[n] for n in params]


def _as_tensors(x: np.ndarray, y: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.as_tensor(np.asarray(x, dtype=np.float32)), torch.as_tensor(
        np.asarray(y, dtype=np.float32)
    )


# --------------------------------------------------------------------------- victims


def shared_gradient(model: nn.Module, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The FedSGD message: the mean-BCE gradient of a batch, flat (wire order)."""
    _check_params_only(model, "shared_gradient")
    xt, yt = _as_tensors(x, y)
    params = OrderedDict((n, p.detach().requires_grad_(True)) for n, p in _params(model).items())
    grads = torch.autograd.grad(_bce(model, params, xt, yt), list(params.values()))
    return _flatten(grads)


def fedavg_update(
    model: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    *,
    local_steps: int,
    local_lr: float,
    minibatch_size: int | None = None,
) -> np.ndarray:
    """The FedAvg message ``theta_K - theta_0`` after ``local_steps`` of plain SGD."""
    _check_params_only(model, "fedavg_update")
    if local_steps < 1:
        raise param_error("local_steps", "fedavg_update", "an int >= 1", local_steps)
    xt, yt = _as_tensors(x, y)
    params = OrderedDict((n, p.requires_grad_(True)) for n, p in _params(model).items())
    delta = _simulate_delta(
        model, params, xt, yt, local_steps=local_steps, local_lr=local_lr,
        minibatch_size=minibatch_size, create_graph=False,
    )
    return _flatten(delta)


# --------------------------------------------------------------------------- labels


def _output_bias_index(model: nn.Module) -> int:
    """Flat index of the single output-logit bias (the last parameter, of size 1)."""
    params = list(model.parameters())
    if params[-1].numel() != 1:
        raise param_error(
            "model", "recover_labels", "a one-logit model whose last parameter is the output bias",
            tuple(params[-1].shape),
        )
    return sum(p.numel() for p in params) - 1


def recover_labels(
    model: nn.Module,
    update: np.ndarray,
    batch_size: int,
    *,
    update_kind: UpdateKind = "gradient",
    seed: int = 0,
    probe_shape: tuple[int, ...] | None = None,
    local_steps: int = 1,
    local_lr: float = 1.0,
) -> np.ndarray:
    """iDLG for one-logit BCE (see module docstring); returns labels sorted 1s first.

    For a delta, ``local_steps`` and ``local_lr`` rescale it back to a mean
    gradient (the count estimate needs the scale; the batch-1 sign does not).
    """
    if batch_size < 1:
        raise param_error("batch_size", "recover_labels", "an int >= 1", batch_size)
    if update_kind not in ("gradient", "delta"):
        raise param_error("update_kind", "recover_labels", "'gradient' or 'delta'", update_kind)
    g = float(np.asarray(update).reshape(-1)[_output_bias_index(model)])
    if update_kind == "delta":
        g = -g / (local_lr * local_steps)  # delta = -lr * sum(grad)
    if batch_size == 1:
        return np.array([1 if g < 0 else 0], dtype=np.int64)
    # mean(p) - mean(y) = g; exact up to the mean(p) estimate (and, for
    # multi-step deltas, up to p drifting during local training).
    with torch.no_grad():
        gen = torch.Generator().manual_seed(seed)
        shape = probe_shape or _infer_input_shape(model)
        probe = torch.rand((64, *shape), generator=gen)
        p_mean = float(torch.sigmoid(model(probe)).mean())
    k = int(np.clip(round(batch_size * (p_mean - g)), 0, batch_size))
    return np.array([1] * k + [0] * (batch_size - k), dtype=np.int64)


def _infer_input_shape(model: nn.Module) -> tuple[int, ...]:
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            raise param_error("probe_shape", "recover_labels", "given for a conv model", None)
        if isinstance(m, nn.Linear):
            return (m.in_features,)
    raise param_error("probe_shape", "recover_labels", "given (model shape unknown)", None)


# --------------------------------------------------------------------------- attack


def _total_variation(x: torch.Tensor) -> torch.Tensor:
    return (x[..., 1:, :] - x[..., :-1, :]).abs().mean() + (x[..., :, 1:] - x[..., :, :-1]).abs().mean()


def _matching_cost(pred: list[torch.Tensor], target: list[torch.Tensor], cost: str) -> torch.Tensor:
    if cost == "l2":
        return sum(((p - t) ** 2).sum() for p, t in zip(pred, target))
    dot = sum((p * t).sum() for p, t in zip(pred, target))
    pn = sum((p * p).sum() for p in pred)
    tn = sum((t * t).sum() for t in target)
    return 1.0 - dot / (pn.sqrt() * tn.sqrt() + 1e-12)


def invert_update(
    model: nn.Module,
    update: np.ndarray,
    *,
    batch_size: int,
    input_shape: tuple[int, ...],
    config: InversionConfig = INVERTING_GRADIENTS_CONFIG,
    labels: np.ndarray | None = None,
    update_kind: UpdateKind = "gradient",
    local_steps: int = 1,
    local_lr: float = 0.1,
    minibatch_size: int | None = None,
    seed: int = 0,
) -> InversionResult:
    """Optimize ``batch_size`` dummy inputs whose update matches ``update``.

    ``labels=None`` recovers them with :func:`recover_labels` first (iDLG):
    fixing labels makes the image optimization far better conditioned than
    DLG's joint label search. Restarts keep the lowest matching cost.
    """
    t0 = time.perf_counter()
    if batch_size < 1:
        raise param_error("batch_size", "invert_update", "an int >= 1", batch_size)
    if update_kind not in ("gradient", "delta"):
        raise param_error("update_kind", "invert_update", "'gradient' or 'delta'", update_kind)
    target = list(_unflatten(model, update, "invert_update").values())
    if labels is None:
        labels = recover_labels(
            model, update, batch_size, update_kind=update_kind, seed=seed, probe_shape=input_shape,
            local_steps=local_steps, local_lr=local_lr,
        )
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    if labels.shape[0] != batch_size:
        raise param_error("labels", "invert_update", f"{batch_size} labels", labels.shape)
    yt = torch.as_tensor(labels, dtype=torch.float32)
    params = OrderedDict((n, p.requires_grad_(False)) for n, p in _params(model).items())
    model.eval()

    def predicted(xd: torch.Tensor) -> list[torch.Tensor]:
        if update_kind == "gradient":
            ps = OrderedDict((n, p.requires_grad_(True)) for n, p in params.items())
            return list(torch.autograd.grad(_bce(model, ps, xd, yt), list(ps.values()), create_graph=True))
        ps = OrderedDict((n, p.clone().requires_grad_(True)) for n, p in params.items())
        return _simulate_delta(
            model, ps, xd, yt, local_steps=local_steps, local_lr=local_lr,
            minibatch_size=minibatch_size, create_graph=True,
        )

    def objective(xd: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        match = _matching_cost(predicted(xd), target, config.cost)
        total = match + config.tv_weight * _total_variation(xd) if config.tv_weight > 0 else match
        return total, match

    gen = torch.Generator().manual_seed(seed)
    best_x, best_cost = None, float("inf")
    for _ in range(config.restarts):
        xd = torch.rand((batch_size, *input_shape), generator=gen).requires_grad_(True)
        if config.optimizer == "adam":
            opt = torch.optim.Adam([xd], lr=config.learning_rate)
            it = config.iterations
            milestones = [int(it * f) for f in (3 / 8, 5 / 8, 7 / 8)] if config.lr_decay else []
            sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=milestones, gamma=0.1)
            for _ in range(it):
                opt.zero_grad(set_to_none=True)
                total, _ = objective(xd)
                (g,) = torch.autograd.grad(total, [xd])
                xd.grad = g.sign() if config.signed_gradients else g
                opt.step()
                sched.step()
                if config.box:
                    with torch.no_grad():
                        xd.clamp_(0.0, 1.0)
        else:
            opt = torch.optim.LBFGS([xd], lr=config.learning_rate, max_iter=config.iterations,
                                    history_size=100, line_search_fn="strong_wolfe")

            def closure():
                opt.zero_grad(set_to_none=True)
                total, _ = objective(xd)
                (g,) = torch.autograd.grad(total, [xd])
                xd.grad = g
                return total

            try:
                opt.step(closure)
            except RuntimeError:  # pragma: no cover - L-BFGS can blow up on NaN
                pass
            if config.box:
                with torch.no_grad():
                    xd.clamp_(0.0, 1.0)
        with torch.no_grad():
            xd.nan_to_num_(0.5)
        _, match = objective(xd.detach().clone())
        cost = float(match.detach())
        if best_x is None or (np.isfinite(cost) and cost < best_cost):
            best_x, best_cost = xd.detach().clone(), cost
    images = best_x.clamp(0.0, 1.0).numpy().astype(np.float32)
    return InversionResult(images, labels, best_cost, time.perf_counter() - t0)


def dlg(model: nn.Module, update: np.ndarray, **kwargs) -> InversionResult:
    """DLG: L2 gradient matching, no prior (labels from iDLG unless given)."""
    kwargs.setdefault("config", DLG_CONFIG)
    return invert_update(model, update, **kwargs)


def inverting_gradients(
    model: nn.Module, update: np.ndarray, *, iterations: int | None = None,
    restarts: int | None = None, tv_weight: float | None = None, **kwargs
) -> InversionResult:
    """Inverting Gradients: cosine matching + TV prior, signed Adam, box [0, 1], restarts."""
    cfg = kwargs.pop("config", INVERTING_GRADIENTS_CONFIG)
    changes = {k: v for k, v in (("iterations", iterations), ("restarts", restarts),
                                 ("tv_weight", tv_weight)) if v is not None}
    return invert_update(model, update, config=replace(cfg, **changes), **kwargs)
