"""Federated adversarial training: per-site PGD-AT that plugs into Site.local_trainer."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
import torch

import fedshield.client.adversarial_training as at_module
from fedshield.client.adversarial_training import (
    AdversarialTrainer,
    AdversarialTrainingConfig,
    adversarial_loss_hook,
    apply_adversarial_training,
    pgd_perturb,
)
from fedshield.client.trainer import TrainConfig, train_locally
from fedshield.errors import ConfigError
from fedshield.models import create_model
from fedshield.models.params import get_flat_params

CFG = TrainConfig(local_steps=40, batch_size=16, learning_rate=0.5)


@pytest.fixture(autouse=True, scope="module")
def _single_thread():
    """2 shared cores: torch's thread pool only adds contention for these tiny models."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _data(n=256, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, 1, 6, 6)).astype(np.float32)
    y = (x[:, 0, :3].mean(axis=(1, 2)) > x[:, 0, 3:].mean(axis=(1, 2))).astype(np.int64)
    return x, y


def _model(seed=0):
    return create_model("logistic", input_shape=(1, 6, 6), seed=seed)


def _robust_acc(model, x, y, eps):
    cfg = AdversarialTrainingConfig(eps=eps, steps=10, random_start=False)
    adv = pgd_perturb(model, torch.from_numpy(x), torch.from_numpy(y).float(), cfg)
    with torch.no_grad():
        return float(((model(adv) > 0).long().numpy() == y).mean())


@pytest.mark.parametrize(
    "kwargs, name",
    [({"eps": 0}, "eps"), ({"steps": 0}, "steps"), ({"alpha": -1}, "alpha"),
     ({"adversarial_weight": 1.5}, "adversarial_weight"), ({"clip": (1, 0)}, "clip")],
)
def test_config_validation(kwargs, name):
    with pytest.raises(ConfigError, match=name):
        AdversarialTrainingConfig(**kwargs)


def test_pgd_perturb_stays_in_ball_and_leaves_parameter_grads_alone():
    x, y = _data(32)
    m = _model()
    cfg = AdversarialTrainingConfig(eps=0.05, steps=4)
    adv = pgd_perturb(m, torch.from_numpy(x), torch.from_numpy(y), cfg, generator=torch.Generator().manual_seed(0))
    assert (adv - torch.from_numpy(x)).abs().max() <= 0.05 + 1e-6
    assert adv.min() >= 0 and adv.max() <= 1
    assert all(p.grad is None for p in m.parameters())
    tab = AdversarialTrainingConfig(eps=0.5, steps=2, clip=None)
    far = pgd_perturb(m, torch.full((2, 1, 6, 6), 3.0), torch.tensor([0.0, 1.0]), tab)
    assert far.max() > 1  # standardized tabular inputs are not boxed


def test_trainer_is_deterministic_and_differs_from_plain_training():
    x, y = _data()
    trainer = AdversarialTrainer(AdversarialTrainingConfig(eps=0.05, steps=2))
    a, b, plain = _model(), _model(), _model()
    trainer(a, x, y, CFG, seed=3)
    trainer(b, x, y, CFG, seed=3)
    train_locally(plain, x, y, CFG, seed=3)
    assert np.array_equal(get_flat_params(a), get_flat_params(b))
    assert not np.allclose(get_flat_params(a), get_flat_params(plain))


def test_adversarial_training_improves_robust_accuracy():
    x, y = _data()
    eps = 0.08
    plain, robust = _model(), _model()
    cfg = TrainConfig(local_steps=120, batch_size=16, learning_rate=0.5)
    train_locally(plain, x, y, cfg, seed=0)
    AdversarialTrainer(AdversarialTrainingConfig(eps=eps, steps=3))(robust, x, y, cfg, seed=0)
    assert _robust_acc(robust, x, y, eps) > _robust_acc(plain, x, y, eps) + 0.1


def test_caller_loss_hook_is_composed_after_the_adversarial_loss():
    x, y = _data(64)
    seen = []

    def hook(model, xb, yb, loss):
        seen.append(float(loss.detach()))
        return loss

    AdversarialTrainer(AdversarialTrainingConfig(eps=0.05, steps=1))(_model(), x, y,
                                                                    TrainConfig(local_steps=3), seed=0, loss_hook=hook)
    assert len(seen) == 3


def test_mixed_weight_and_class_weighted_hook_run():
    x, y = _data(64)
    hook = adversarial_loss_hook(AdversarialTrainingConfig(eps=0.05, adversarial_weight=0.5), seed=1, pos_weight=2.0)
    cfg = TrainConfig(local_steps=3, class_weighting=True)
    assert np.isfinite(train_locally(_model(), x, y, cfg, seed=0, loss_hook=hook))
    assert np.isfinite(AdversarialTrainer(AdversarialTrainingConfig(eps=0.05))(_model(), x, y, cfg, seed=0))


class _StubSite:
    def __init__(self, site_id):
        self.site_id = site_id
        self.local_trainer = train_locally


def test_per_site_configuration():
    sites = [_StubSite("a"), _StubSite("b"), _StubSite("c")]
    enabled = apply_adversarial_training(sites, {"a": AdversarialTrainingConfig(eps=4 / 255), "b": None})
    assert enabled == ["a"]
    assert isinstance(sites[0].local_trainer, AdversarialTrainer)
    assert sites[0].local_trainer.config.eps == 4 / 255
    assert sites[1].local_trainer is train_locally and sites[2].local_trainer is train_locally
    assert apply_adversarial_training(sites[1:], AdversarialTrainingConfig()) == ["b", "c"]
    with pytest.raises(ConfigError, match="config"):
        apply_adversarial_training(sites, {"typo": AdversarialTrainingConfig()})
    with pytest.raises(ConfigError):
        apply_adversarial_training(sites, 0.1)


def test_site_fit_uses_the_adversarial_trainer():
    from fedshield.client import Site
    from fedshield.data import SiteData
    from fedshield.messages import FitIns

    x, y = _data(64)
    data = SiteData("s0", x, y, x[:8], y[:8])
    site = Site(data=data, model_factory=_model, train_config=TrainConfig(local_steps=2), seed=0, site_index=0)
    apply_adversarial_training([site], AdversarialTrainingConfig(eps=0.05))
    res = site.fit(FitIns(run_id="t", round_num=0, parameters=get_flat_params(_model())))
    assert np.isfinite(res.delta).all() and np.abs(res.delta).sum() > 0


def test_defense_never_imports_the_red_team():
    tree = ast.parse(Path(at_module.__file__).read_text())
    modules = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    modules += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert not any("redteam" in m for m in modules)
