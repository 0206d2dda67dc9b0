"""Local training at a hospital: a fixed number of SGD steps, FedProx optional.

Why steps rather than epochs: FLamby's protocol fixes 100 local updates per round
whatever the site size, which keeps small hospitals from being drowned out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from fedshield.errors import param_error


@dataclass(frozen=True)
class TrainConfig:
    local_steps: int = 100
    batch_size: int = 4
    learning_rate: float = 0.01
    optimizer: str = "sgd"  # "sgd" | "adam"
    momentum: float = 0.0
    weight_decay: float = 0.0
    proximal_mu: float = 0.0  # FedProx; 0 disables
    class_weighting: bool = False  # weight the positive class by n_neg / n_pos
    augment_shift_px: int = 0  # images: random translation by up to this many pixels

    def __post_init__(self) -> None:
        if self.local_steps < 1:
            raise param_error("local_steps", "TrainConfig", "an int >= 1", self.local_steps)
        if self.batch_size < 1:
            raise param_error("batch_size", "TrainConfig", "an int >= 1", self.batch_size)
        if not self.learning_rate > 0:
            raise param_error("learning_rate", "TrainConfig", "a float > 0", self.learning_rate)
        if self.optimizer not in ("sgd", "adam"):
            raise param_error("optimizer", "TrainConfig", "'sgd' or 'adam'", self.optimizer)
        if self.proximal_mu < 0:
            raise param_error("proximal_mu", "TrainConfig", "a float >= 0", self.proximal_mu)
        if not 0 <= self.augment_shift_px <= 8:
            raise param_error("augment_shift_px", "TrainConfig", "an int in [0, 8]", self.augment_shift_px)


def _make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(
        model.parameters(), lr=cfg.learning_rate, momentum=cfg.momentum, weight_decay=cfg.weight_decay
    )


def positive_class_weight(y: np.ndarray) -> float:
    pos = float((y == 1).sum())
    neg = float((y == 0).sum())
    return neg / pos if pos > 0 and neg > 0 else 1.0


def random_shift(x: torch.Tensor, max_px: int, gen: torch.Generator) -> torch.Tensor:
    """Translate each image by up to ``max_px`` pixels (zero padding).

    Why: X-ray positioning differs between hospitals and between the MedMNIST
    train and test splits; small shifts make the CNN robust to it.
    """
    n, _, h, w = x.shape
    padded = torch.nn.functional.pad(x, (max_px, max_px, max_px, max_px))
    offsets = torch.randint(0, 2 * max_px + 1, (n, 2), generator=gen)
    return torch.stack([padded[i, :, dy : dy + h, dx : dx + w] for i, (dy, dx) in enumerate(offsets.tolist())])


def train_locally(
    model: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    cfg: TrainConfig,
    *,
    seed: int,
    loss_hook=None,
) -> float:
    """Train ``model`` in place for ``cfg.local_steps`` minibatch steps; return mean loss.

    Batches are drawn by reshuffling the site's data every pass, seeded, so the
    same seed replays the same minibatches. ``loss_hook(model, xb, yb, loss)``
    lets adversarial training or attacks change the objective without forking
    this loop.
    """
    gen = torch.Generator().manual_seed(seed)
    xt = torch.from_numpy(x)
    yt = torch.from_numpy(y.astype(np.float32))
    n = xt.shape[0]
    pos_weight = torch.tensor(positive_class_weight(y)) if cfg.class_weighting else None
    criterion = nn.BCEWithLogitsLoss(pos_weight=pos_weight)
    opt = _make_optimizer(model, cfg)
    anchor = [p.detach().clone() for p in model.parameters()] if cfg.proximal_mu > 0 else None
    model.train()
    losses = []
    order = torch.randperm(n, generator=gen)
    cursor = 0
    for _ in range(cfg.local_steps):
        if cursor + cfg.batch_size > n:
            order = torch.randperm(n, generator=gen)
            cursor = 0
        idx = order[cursor : cursor + cfg.batch_size]
        cursor += cfg.batch_size
        xb, yb = xt[idx], yt[idx]
        if cfg.augment_shift_px and xb.ndim == 4:
            xb = random_shift(xb, cfg.augment_shift_px, gen)
        opt.zero_grad(set_to_none=True)
        loss = criterion(model(xb), yb)
        if loss_hook is not None:
            loss = loss_hook(model, xb, yb, loss)
        if anchor is not None:
            prox = sum(((p - a) ** 2).sum() for p, a in zip(model.parameters(), anchor))
            loss = loss + 0.5 * cfg.proximal_mu * prox
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return float(np.mean(losses)) if losses else float("nan")


@torch.no_grad()
def predict_proba(model: nn.Module, x: np.ndarray, *, batch_size: int = 1024) -> np.ndarray:
    model.eval()
    out = []
    for i in range(0, x.shape[0], batch_size):
        out.append(torch.sigmoid(model(torch.from_numpy(x[i : i + batch_size]))).numpy())
    return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)
