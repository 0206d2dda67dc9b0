"""Membership inference: scores have the right sign and LiRA finds memorized points."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from fedshield.client.trainer import TrainConfig, train_locally
from fedshield.errors import ConfigError
from fedshield.models import create_model
from fedshield.redteam.privacy import (
    evaluate_mia,
    lira_offline_scores,
    loss_threshold_scores,
    per_example_loss,
    signed_logit,
    train_shadow_models,
    yeom_predict,
)

D = 30


def _factory(seed):
    return create_model("mlp", input_shape=(D,), seed=seed, hidden_units=64)


def _train(model, x, y, seed):
    train_locally(model, x, y, TrainConfig(local_steps=300, batch_size=8, learning_rate=0.1), seed=seed)


@pytest.fixture(scope="module")
def setting():
    """Random labels: the only way to fit members is to memorize them."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, D)).astype(np.float32)
    y = rng.integers(0, 2, 200)
    targets = np.arange(80)
    members = targets[:40]
    target = _factory(99)
    _train(target, x[members], y[members], 99)
    return x, y, targets, target


def test_signed_logit_and_loss_agree_with_torch():
    model = create_model("logistic", input_shape=(3,), seed=0)
    x = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    y = np.array([0, 1, 1, 0, 1])
    z = model(torch.from_numpy(x)).detach().numpy()
    assert np.allclose(signed_logit(model, x, y), np.where(y == 1, z, -z), atol=1e-6)
    ref = nn.functional.binary_cross_entropy_with_logits(torch.from_numpy(z), torch.tensor(y, dtype=torch.float32),
                                                         reduction="none").numpy()
    assert np.allclose(per_example_loss(model, x, y), ref, atol=1e-5)


def test_loss_threshold_and_lira_detect_memorization(setting):
    x, y, targets, target = setting
    is_member = np.r_[np.ones(40, bool), np.zeros(40, bool)]
    lt = evaluate_mia(loss_threshold_scores(target, x[targets], y[targets]), is_member)
    assert lt.auc > 0.75
    pop = np.arange(80, 200)
    shadows = train_shadow_models(_factory, _train, x[pop], y[pop], num_shadows=2, seed=0)
    lira = evaluate_mia(lira_offline_scores(target, shadows, x[targets], y[targets]), is_member)
    assert lira.auc > 0.75
    assert 0 <= lira.tpr_at_01pct_fpr <= lira.tpr_at_1pct_fpr <= 1
    pred = yeom_predict(target, x[targets], y[targets], float(per_example_loss(target, x[targets[:40]], y[targets[:40]]).mean()))
    assert pred[:40].mean() > pred[40:].mean()


def test_lira_per_example_variance_and_validation(setting):
    x, y, targets, target = setting
    with pytest.raises(ConfigError):
        lira_offline_scores(target, [], x[targets], y[targets])
    with pytest.raises(ConfigError):
        train_shadow_models(_factory, _train, x, y, num_shadows=0)
    shadows = [_factory(s) for s in range(3)]  # untrained, just for shapes
    s = lira_offline_scores(target, shadows, x[targets], y[targets], global_variance=False)
    assert s.shape == (80,) and np.isfinite(s).all()
