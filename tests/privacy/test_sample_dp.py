import numpy as np
import pytest
import torch
from torch import nn

from fedshield.client.trainer import TrainConfig
from fedshield.errors import ConfigError, PrivacyBudgetExceeded
from fedshield.models import create_model
from fedshield.privacy import create_accountant
from fedshield.privacy.analysis import epsilon
from fedshield.privacy.sample_dp import DPSGDTrainer, check_model_supported, poisson_sample_rate

CFG = TrainConfig(local_steps=20, batch_size=4, learning_rate=0.1)


def _data(n=40):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 5)).astype(np.float32)
    return x, (x[:, 0] > 0).astype(np.int64)


def _trainer(*, budget=50.0, secure=False, noise=1.0):
    acct = create_accountant("rdp")
    q = poisson_sample_rate(num_records=40, batch_size=4)
    return DPSGDTrainer(site_id="a", accountant=acct, noise_multiplier=noise, max_grad_norm=1.0, sample_rate=q,
                        epsilon_budget=budget, delta=1e-5, secure_mode=secure)


def test_sample_rate_is_opacus_one_over_batches():
    assert poisson_sample_rate(num_records=199, batch_size=4) == pytest.approx(1 / 50)


@pytest.mark.parametrize("secure", [False, True])
def test_trainer_trains_and_records_its_steps(secure):
    x, y = _data()
    model = create_model("logistic", input_shape=(5,), seed=0)
    before = [p.detach().clone() for p in model.parameters()]
    trainer = _trainer(secure=secure)
    loss = trainer(model, x, y, CFG, seed=1)
    assert np.isfinite(loss)
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert not hasattr(next(model.parameters()), "grad_sample")  # Opacus stayed on the copy
    assert trainer.accountant.history == [(1.0, 0.1, 20)]
    assert trainer.accountant.get_epsilon(delta=1e-5) == pytest.approx(epsilon([(1.0, 0.1, 20)], delta=1e-5))


def test_seeded_training_is_reproducible():
    x, y = _data()
    outs = []
    for _ in range(2):
        model = create_model("logistic", input_shape=(5,), seed=0)
        _trainer()(model, x, y, CFG, seed=7)
        outs.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert torch.equal(*outs)


def test_image_augmentation_applies_under_dp_sgd_and_is_seeded():
    # the option used to be silently ignored by the DP trainer: now it shifts each sampled image
    rng = np.random.default_rng(0)
    x = rng.random((40, 1, 8, 8)).astype(np.float32)
    y = (x[:, 0, :4].mean(axis=(1, 2)) > 0.5).astype(np.int64)
    outs = {}
    for shift in (0, 2, 2):
        model = create_model("cnn", input_shape=(1, 8, 8), seed=0, channels=8)
        cfg = TrainConfig(local_steps=5, batch_size=4, learning_rate=0.1, augment_shift_px=shift)
        _trainer(noise=1e-6, budget=float("inf"))(model, x, y, cfg, seed=3)
        outs.setdefault(shift, []).append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert not torch.allclose(outs[0][0], outs[2][0])
    assert torch.equal(outs[2][0], outs[2][1])


def test_noise_is_added():
    x, y = _data()
    outs = []
    for noise in (1e-6, 50.0):
        model = create_model("logistic", input_shape=(5,), seed=0)
        _trainer(noise=noise, budget=float("inf"))(model, x, y, CFG, seed=7)
        outs.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert torch.linalg.norm(outs[1]) > 3 * torch.linalg.norm(outs[0])


def test_site_refuses_a_round_over_its_budget():
    x, y = _data()
    model = create_model("logistic", input_shape=(5,), seed=0)
    one_round = epsilon([(1.0, 0.1, 20)], delta=1e-5)
    trainer = _trainer(budget=one_round * 1.05)
    trainer(model, x, y, CFG, seed=1)
    with pytest.raises(PrivacyBudgetExceeded, match="refuses to train"):
        trainer(model, x, y, CFG, seed=2)
    assert trainer.accountant.history == [(1.0, 0.1, 20)]


def test_batchnorm_is_refused_with_the_layer_and_the_fix():
    model = nn.Sequential(nn.Linear(5, 4), nn.BatchNorm1d(4), nn.Linear(4, 1))
    with pytest.raises(ConfigError, match=r"BatchNorm.*GroupNorm.*ModuleValidator.fix"):
        check_model_supported(model)
    check_model_supported(create_model("cnn", input_shape=(1, 28, 28), seed=0))
