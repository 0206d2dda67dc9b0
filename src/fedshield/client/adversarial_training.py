"""Federated adversarial training: PGD-AT (Madry et al. 2018) inside each site's local steps.

Why on the client: robustness has to be learned from the data, and only the
site sees its data. Each site may opt in with its own budget (a hospital whose
scanners are exposed to tampered uploads may want eps = 4/255, another none),
so the configuration is per site and the server needs no change at all: the
adversarial loss simply changes the delta the site sends.

Why a private PGD here instead of the red team's: defense code must not import
attack code (the red team is optional and may be absent in a deployment), and
training-time PGD needs only a few steps in train mode.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from fedshield.client.trainer import positive_class_weight, train_locally
from fedshield.errors import param_error

__all__ = [
    "AdversarialTrainingConfig",
    "AdversarialTrainer",
    "adversarial_loss_hook",
    "pgd_perturb",
    "enable_adversarial_training",
    "apply_adversarial_training",
]


@dataclass(frozen=True)
class AdversarialTrainingConfig:
    """``eps`` is an L-inf radius in input units (1/255 steps on [0, 1] images,
    standard deviations for standardized tabular data; then set ``clip=None``).

    ``adversarial_weight`` = 1 is Madry's min-max objective; 0.5 mixes clean
    and adversarial loss (Goodfellow et al.), which usually costs less clean
    accuracy on small, imbalanced medical datasets.
    """

    eps: float = 2 / 255
    steps: int = 3
    alpha: float | None = None  # default 2.5 * eps / steps
    random_start: bool = True
    clip: tuple[float, float] | None = (0.0, 1.0)
    adversarial_weight: float = 1.0

    def __post_init__(self) -> None:
        owner = "AdversarialTrainingConfig"
        if not self.eps > 0:
            raise param_error("eps", owner, "a float > 0", self.eps)
        if self.steps < 1:
            raise param_error("steps", owner, "an int >= 1", self.steps)
        if self.alpha is not None and not self.alpha > 0:
            raise param_error("alpha", owner, "a float > 0 or None", self.alpha)
        if not 0.0 <= self.adversarial_weight <= 1.0:
            raise param_error("adversarial_weight", owner, "a float in [0, 1]", self.adversarial_weight)
        if self.clip is not None and not (len(self.clip) == 2 and self.clip[0] < self.clip[1]):
            raise param_error("clip", owner, "None or (low, high) with low < high", self.clip)

    @property
    def step_size(self) -> float:
        return 2.5 * self.eps / self.steps if self.alpha is None else self.alpha


def pgd_perturb(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    config: AdversarialTrainingConfig,
    *,
    generator: torch.Generator | None = None,
    pos_weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Worst-case inputs within the eps-ball; gradients only w.r.t. the input.

    ``torch.autograd.grad`` (not ``backward``) so the parameters' ``.grad``
    that the training step is about to fill stay untouched.
    """
    x = x.detach()
    y = y.detach().float().reshape(-1)
    eps, alpha = config.eps, config.step_size

    def project(z: torch.Tensor) -> torch.Tensor:
        z = torch.max(torch.min(z, x + eps), x - eps)
        return z.clamp(*config.clip) if config.clip is not None else z

    x_adv = x.clone()
    if config.random_start:
        noise = torch.rand(x.shape, generator=generator, dtype=x.dtype) * 2 - 1
        x_adv = project(x + eps * noise)
    for _ in range(config.steps):
        x_adv.requires_grad_(True)
        loss = nn.functional.binary_cross_entropy_with_logits(
            model(x_adv).reshape(-1), y, pos_weight=pos_weight
        )
        (g,) = torch.autograd.grad(loss, [x_adv])
        x_adv = project(x_adv.detach() + alpha * g.sign())
    return x_adv.detach()


def adversarial_loss_hook(
    config: AdversarialTrainingConfig, *, seed: int = 0, pos_weight: float | None = None
) -> Callable:
    """A ``train_locally`` loss hook: (1 - w) * clean loss + w * loss on PGD inputs.

    ``pos_weight`` must match the clean loss's class weighting: on sites with
    90% positives an unweighted adversarial loss alone collapses the model to
    "always positive", which is trivially 'robust' and clinically useless.
    """
    gen = torch.Generator().manual_seed(int(seed) % (2**63))
    w = config.adversarial_weight
    pw = None if pos_weight is None else torch.tensor(float(pos_weight))

    def hook(model: nn.Module, xb: torch.Tensor, yb: torch.Tensor, loss: torch.Tensor) -> torch.Tensor:
        x_adv = pgd_perturb(model, xb, yb, config, generator=gen, pos_weight=pw)
        adv_loss = nn.functional.binary_cross_entropy_with_logits(
            model(x_adv).reshape(-1), yb.float(), pos_weight=pw
        )
        return adv_loss if w == 1.0 else (1.0 - w) * loss + w * adv_loss

    return hook


class AdversarialTrainer:
    """Drop-in for ``Site.local_trainer`` (same signature as ``train_locally``).

    Wraps any base trainer that accepts ``loss_hook``; the PGD stream is seeded
    from the per-round seed the site passes, so runs replay exactly.
    """

    def __init__(self, config: AdversarialTrainingConfig, *, base: Callable = train_locally):
        if not isinstance(config, AdversarialTrainingConfig):
            raise param_error("config", "AdversarialTrainer", "an AdversarialTrainingConfig", config)
        self.config = config
        self.base = base

    def __call__(self, model, x, y, cfg, *, seed: int, loss_hook=None) -> float:
        pw = positive_class_weight(np.asarray(y)) if getattr(cfg, "class_weighting", False) else None
        adv = adversarial_loss_hook(self.config, seed=seed, pos_weight=pw)
        if loss_hook is None:
            hook = adv
        else:
            def hook(m, xb, yb, loss):
                return loss_hook(m, xb, yb, adv(m, xb, yb, loss))
        return self.base(model, x, y, cfg, seed=seed, loss_hook=hook)


def enable_adversarial_training(site, config: AdversarialTrainingConfig):
    """Switch one site to PGD-AT, keeping whatever trainer it had as the base."""
    site.local_trainer = AdversarialTrainer(config, base=site.local_trainer)
    return site


def apply_adversarial_training(
    sites: Iterable,
    config: AdversarialTrainingConfig | Mapping[str, AdversarialTrainingConfig | None],
) -> list[str]:
    """Per-site opt-in: one config for all, or ``{site_id: config or None}``.

    Returns the ids of the sites now adversarially trained. Unknown ids in the
    mapping are refused so a typo cannot silently leave a site undefended.
    """
    sites = list(sites)
    if isinstance(config, AdversarialTrainingConfig):
        chosen = {s.site_id: config for s in sites}
    elif isinstance(config, Mapping):
        known = {s.site_id for s in sites}
        unknown = sorted(set(config) - known)
        if unknown:
            raise param_error("config", "apply_adversarial_training", f"keys among {sorted(known)}", unknown)
        chosen = dict(config)
    else:
        raise param_error("config", "apply_adversarial_training",
                          "an AdversarialTrainingConfig or a {site_id: config} mapping", config)
    enabled = []
    for s in sites:
        cfg = chosen.get(s.site_id)
        if cfg is not None:
            enable_adversarial_training(s, cfg)
            enabled.append(s.site_id)
    return enabled
