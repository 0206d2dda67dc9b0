"""Evasion attacks at inference time: FGSM and L-infinity PGD, robust accuracy, transfer.

Why in the privacy/evasion red team: a diagnostic model that flips its call
under an imperceptible 2/255 perturbation is a safety finding, and the
transfer experiment shows that a single curious site, holding only its local
model, can craft such inputs against the global model.

Images live in [0, 1] (``clip=(0, 1)``); tabular features are standardized,
so their epsilon is in standard-deviation units and ``clip=None``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from fedshield.errors import param_error

__all__ = ["fgsm", "pgd", "accuracy", "robust_accuracy", "robust_accuracy_curve", "transfer_attack",
           "IMAGE_EPSILONS", "TABULAR_EPSILONS"]

IMAGE_EPSILONS = (1 / 255, 2 / 255, 4 / 255, 8 / 255)
TABULAR_EPSILONS = (0.05, 0.1, 0.25, 0.5)  # standardized units


def _check(eps: float, owner: str) -> None:
    if not eps >= 0:
        raise param_error("eps", owner, "a float >= 0", eps)


def _loss_grad(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    x = x.detach().requires_grad_(True)
    loss = nn.functional.binary_cross_entropy_with_logits(model(x).reshape(-1), y, reduction="sum")
    (g,) = torch.autograd.grad(loss, [x])
    return g


def _project(x_adv, x, eps, clip):
    x_adv = torch.max(torch.min(x_adv, x + eps), x - eps)
    return x_adv.clamp(*clip) if clip is not None else x_adv


def _tensors(x, y):
    return (torch.as_tensor(np.asarray(x, dtype=np.float32)),
            torch.as_tensor(np.asarray(y, dtype=np.float32)).reshape(-1))


def fgsm(model: nn.Module, x: np.ndarray, y: np.ndarray, eps: float, *,
         clip: tuple[float, float] | None = (0.0, 1.0)) -> np.ndarray:
    """One signed-gradient step of size eps (Goodfellow et al. 2015)."""
    _check(eps, "fgsm")
    model.eval()
    xt, yt = _tensors(x, y)
    g = _loss_grad(model, xt, yt)
    return _project(xt + eps * g.sign(), xt, eps, clip).numpy()


def pgd(model: nn.Module, x: np.ndarray, y: np.ndarray, eps: float, *, steps: int = 10,
        alpha: float | None = None, random_start: bool = True,
        clip: tuple[float, float] | None = (0.0, 1.0), seed: int = 0) -> np.ndarray:
    """L-inf PGD (Madry et al. 2018); default step 2.5 * eps / steps as in the paper."""
    _check(eps, "pgd")
    if steps < 1:
        raise param_error("steps", "pgd", "an int >= 1", steps)
    model.eval()
    xt, yt = _tensors(x, y)
    alpha = 2.5 * eps / steps if alpha is None else alpha
    x_adv = xt.clone()
    if random_start and eps > 0:
        gen = torch.Generator().manual_seed(seed)
        x_adv = _project(xt + (torch.rand(xt.shape, generator=gen) * 2 - 1) * eps, xt, eps, clip)
    for _ in range(steps):
        x_adv = _project(x_adv + alpha * _loss_grad(model, x_adv, yt).sign(), xt, eps, clip)
    return x_adv.detach().numpy()


@torch.no_grad()
def accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    model.eval()
    z = model(torch.as_tensor(np.asarray(x, dtype=np.float32))).reshape(-1).numpy()
    return float(np.mean((z > 0).astype(np.int64) == np.asarray(y).reshape(-1)))


def robust_accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray, eps: float, *,
                    attack: str = "pgd", **kwargs) -> float:
    if attack == "pgd":
        adv = pgd(model, x, y, eps, **kwargs)
    elif attack == "fgsm":
        adv = fgsm(model, x, y, eps, **{k: v for k, v in kwargs.items() if k == "clip"})
    else:
        raise param_error("attack", "robust_accuracy", "'pgd' or 'fgsm'", attack)
    return accuracy(model, adv, y)


def robust_accuracy_curve(model: nn.Module, x: np.ndarray, y: np.ndarray,
                          epsilons: Sequence[float] = IMAGE_EPSILONS, *,
                          attacks: Sequence[str] = ("fgsm", "pgd"), **kwargs) -> dict[str, list[float]]:
    """Robust accuracy per attack per epsilon; eps = 0 (clean) is prepended."""
    curve = {"eps": [0.0, *map(float, epsilons)]}
    clean = accuracy(model, x, y)
    for a in attacks:
        curve[a] = [clean] + [robust_accuracy(model, x, y, e, attack=a, **kwargs) for e in epsilons]
    return curve


def transfer_attack(source: nn.Module, target: nn.Module, x: np.ndarray, y: np.ndarray, eps: float,
                    *, attack: str = "pgd", **kwargs) -> dict[str, float]:
    """Craft on ``source`` (e.g. one site's local model), evaluate on ``target`` (global)."""
    adv = pgd(source, x, y, eps, **kwargs) if attack == "pgd" else fgsm(
        source, x, y, eps, **{k: v for k, v in kwargs.items() if k == "clip"})
    return {
        "source_clean_accuracy": accuracy(source, x, y),
        "source_robust_accuracy": accuracy(source, adv, y),
        "target_clean_accuracy": accuracy(target, x, y),
        "target_accuracy_on_transferred": accuracy(target, adv, y),
    }
