"""FGSM / PGD respect their threat model and do hurt an undefended model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fedshield.client.trainer import TrainConfig, train_locally
from fedshield.errors import ConfigError
from fedshield.models import create_model
from fedshield.redteam.privacy import (
    accuracy,
    fgsm,
    pgd,
    robust_accuracy,
    robust_accuracy_curve,
    transfer_attack,
)


@pytest.fixture(scope="module")
def toy():
    rng = np.random.default_rng(0)
    x = rng.random((200, 1, 6, 6)).astype(np.float32)
    y = (x[:, 0, :3].mean(axis=(1, 2)) > x[:, 0, 3:].mean(axis=(1, 2))).astype(np.int64)
    models = []
    for seed in (0, 1):
        m = create_model("logistic", input_shape=(1, 6, 6), seed=seed)
        train_locally(m, x, y, TrainConfig(local_steps=300, batch_size=16, learning_rate=0.5), seed=seed)
        models.append(m)
    return x, y, models


def test_attacks_stay_in_the_eps_ball_and_box(toy):
    x, y, (m, _) = toy
    eps = 8 / 255
    for adv in (fgsm(m, x, y, eps), pgd(m, x, y, eps, steps=5)):
        assert np.abs(adv - x).max() <= eps + 1e-6
        assert adv.min() >= 0 and adv.max() <= 1


def test_tabular_mode_has_no_box():
    m = create_model("logistic", input_shape=(4,), seed=0)
    x = np.full((3, 4), 5.0, dtype=np.float32)  # standardized features exceed [0, 1]
    adv = pgd(m, x, np.array([0, 1, 0]), 0.5, clip=None, steps=3)
    assert np.abs(adv - x).max() <= 0.5 + 1e-6 and adv.max() > 1


def test_pgd_is_at_least_as_strong_as_fgsm_and_hurts(toy):
    x, y, (m, _) = toy
    clean = accuracy(m, x, y)
    assert clean > 0.85
    curve = robust_accuracy_curve(m, x, y, (4 / 255, 16 / 255), steps=10)
    assert curve["pgd"][0] == clean
    assert curve["pgd"][-1] <= curve["fgsm"][-1] + 0.02
    assert curve["pgd"][-1] < clean - 0.2
    assert robust_accuracy(m, x, y, 0.0, attack="fgsm") == clean


def test_transfer_between_models_and_validation(toy):
    x, y, (a, b) = toy
    t = transfer_attack(a, b, x, y, 16 / 255, steps=5)
    assert t["target_accuracy_on_transferred"] < t["target_clean_accuracy"]
    with pytest.raises(ConfigError):
        robust_accuracy(a, x, y, 0.1, attack="cw")
    with pytest.raises(ConfigError):
        pgd(a, x, y, -1.0)


def test_pgd_is_deterministic(toy):
    x, y, (m, _) = toy
    assert np.array_equal(pgd(m, x[:10], y[:10], 0.03, seed=3), pgd(m, x[:10], y[:10], 0.03, seed=3))
    torch.manual_seed(0)  # global RNG must not matter
    assert np.array_equal(pgd(m, x[:10], y[:10], 0.03, seed=3), pgd(m, x[:10], y[:10], 0.03, seed=3))
