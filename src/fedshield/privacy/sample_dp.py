"""Sample-level DP: DP-SGD (Opacus) inside each hospital's local training.

Why a replacement ``Site.local_trainer``: the guarantee protects each patient
record of that hospital, so clipping, noise and the accountant all live at the
site; the server never has to be trusted with the budget. The trainer refuses
to start a round its own accountant cannot pay for (defence in depth: the
server-side gate refuses it first).
"""

from __future__ import annotations

import copy
import math
import types
import warnings

import numpy as np
import torch
from opacus import PrivacyEngine
from opacus.data_loader import DPDataLoader
from opacus.utils.uniform_sampler import UniformWithReplacementSampler
from opacus.validators import ModuleValidator
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from fedshield.client.trainer import TrainConfig, _make_optimizer, positive_class_weight, random_shift
from fedshield.errors import ConfigError, PrivacyBudgetExceeded
from fedshield.privacy.accountants import Accountant
from fedshield.privacy.noise import secure_normal, secure_uniform


def poisson_sample_rate(*, num_records: int, batch_size: int) -> float:
    """Opacus's rate for a loader of that batch size: 1 / number of batches."""
    return 1.0 / math.ceil(num_records / batch_size)


def check_model_supported(model: nn.Module, *, owner: str = "privacy.mode = 'sample'") -> None:
    """Refuse layers DP-SGD cannot handle (BatchNorm mixes examples) before any training."""
    errors = ModuleValidator.validate(model, strict=False)
    if errors:
        names = "; ".join(str(e) for e in errors)
        raise ConfigError(
            f"The model cannot be trained with DP-SGD ({owner}): {names}. Fix: use a model without these "
            "layers (e.g. GroupNorm instead of BatchNorm, as model 'cnn' does), or convert it with "
            "opacus.validators.ModuleValidator.fix(model)."
        )


class _SecurePoissonSampler(UniformWithReplacementSampler):
    """Opacus's Poisson sampler with the inclusion coins drawn from os.urandom."""

    def __iter__(self):
        for _ in range(self.steps):
            mask = secure_uniform(self.num_samples) < self.sample_rate
            yield np.flatnonzero(mask).tolist()


def _secure_add_noise(self) -> None:
    """DPOptimizer.add_noise with the noise from the OS CSPRNG (see noise.py)."""
    std = self.noise_multiplier * self.max_grad_norm
    for p in self.params:
        noise = secure_normal(tuple(p.summed_grad.shape), std=std)
        p.grad = (p.summed_grad + torch.from_numpy(noise).to(p.summed_grad.dtype)).view_as(p)


class DPSGDTrainer:
    """Same call signature as ``fedshield.client.trainer.train_locally``."""

    def __init__(
        self,
        *,
        site_id: str,
        accountant: Accountant,
        noise_multiplier: float,
        max_grad_norm: float,
        sample_rate: float,
        epsilon_budget: float,
        delta: float,
        secure_mode: bool = False,
    ):
        self.site_id = site_id
        self.accountant = accountant
        self.noise_multiplier = noise_multiplier
        self.max_grad_norm = max_grad_norm
        self.sample_rate = sample_rate
        self.epsilon_budget = epsilon_budget
        self.delta = delta
        self.secure_mode = secure_mode

    def __call__(self, model: nn.Module, x: np.ndarray, y: np.ndarray, cfg: TrainConfig, *, seed: int,
                 loss_hook=None) -> float:
        steps = cfg.local_steps
        after = self.accountant.epsilon_after(
            delta=self.delta, noise_multiplier=self.noise_multiplier, sample_rate=self.sample_rate, steps=steps)
        if after > self.epsilon_budget * (1 + 1e-9):
            raise PrivacyBudgetExceeded(
                f"Site {self.site_id!r} refuses to train: {steps} more DP-SGD steps would bring its epsilon to "
                f"{after:.4g} > budget {self.epsilon_budget:g} (delta={self.delta:g})."
            )
        with torch.random.fork_rng(), warnings.catch_warnings():
            # Opacus's "secure RNG turned off" is reported once by attach_privacy (summary + warning);
            # its "full backward hook" note is about inputs that need no gradient.
            warnings.filterwarnings("ignore", message=".*Secure RNG turned off.*")
            warnings.filterwarnings("ignore", message=".*Full backward hook.*")
            torch.manual_seed(seed)
            loss = self._train(model, x, y, cfg, seed=seed, loss_hook=loss_hook)
        self.accountant.step(noise_multiplier=self.noise_multiplier, sample_rate=self.sample_rate, steps=steps)
        return loss

    def _train(self, model, x, y, cfg, *, seed, loss_hook) -> float:
        work = copy.deepcopy(model)  # Opacus hooks and grad_sample buffers stay on the copy
        work.train()
        data = TensorDataset(torch.from_numpy(x), torch.from_numpy(y.astype(np.float32)))
        loader = DataLoader(data, batch_size=cfg.batch_size)
        engine = PrivacyEngine(accountant="rdp")  # its accountant is unused: ours records the steps
        gen = None if self.secure_mode else torch.Generator().manual_seed(seed)
        gmodel, opt, dploader = engine.make_private(
            module=work, optimizer=_make_optimizer(work, cfg), data_loader=loader,
            noise_multiplier=self.noise_multiplier, max_grad_norm=self.max_grad_norm,
            poisson_sampling=True, noise_generator=gen,
        )
        assert isinstance(dploader, DPDataLoader) and abs(dploader.sample_rate - self.sample_rate) < 1e-12
        if self.secure_mode:
            dploader.batch_sampler.__class__ = _SecurePoissonSampler
            opt.add_noise = types.MethodType(_secure_add_noise, opt)
        pos_weight = torch.tensor(positive_class_weight(y)) if cfg.class_weighting else None
        criterion = nn.BCEWithLogitsLoss(pos_weight=pos_weight)
        # Augmentation transforms each sampled record before its own gradient is clipped, so the
        # guarantee is unchanged; its randomness is not part of the mechanism (a seeded generator).
        aug = torch.Generator().manual_seed(seed + 1) if cfg.augment_shift_px else None
        losses, done = [], 0
        while done < cfg.local_steps:
            for xb, yb in dploader:
                if aug is not None and xb.ndim == 4 and len(xb):
                    xb = random_shift(xb, cfg.augment_shift_px, aug)
                opt.zero_grad(set_to_none=True)
                out = gmodel(xb)
                if len(xb) == 0:  # an empty Poisson batch still takes a (pure-noise) step
                    loss = out.sum() * 0.0
                else:
                    loss = criterion(out, yb)
                    if loss_hook is not None:
                        loss = loss_hook(gmodel, xb, yb, loss)
                    losses.append(float(loss.detach()))
                loss.backward()
                opt.step()
                done += 1
                if done >= cfg.local_steps:
                    break
        model.load_state_dict(work.state_dict())
        return float(np.mean(losses)) if losses else float("nan")
