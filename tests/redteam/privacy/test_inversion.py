"""Gradient inversion: label recovery is exact, and the attack really reconstructs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fedshield.errors import ConfigError
from fedshield.models import create_model
from fedshield.redteam.privacy import (
    InversionConfig,
    dlg,
    fedavg_update,
    inverting_gradients,
    invert_update,
    recover_labels,
    score_reconstruction,
    shared_gradient,
)

SHAPE = (1, 28, 28)


def _xray_like(n=1, seed=0):
    """Smooth synthetic 'chest' images: the attack should not need real data to be tested."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:28, 0:28] / 27.0
    out = []
    for _ in range(n):
        cx, cy, r = rng.uniform(0.3, 0.7, 3)
        img = 0.3 + 0.5 * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (0.1 * r))
        out.append(img[None])
    return np.stack(out).astype(np.float32)


@pytest.fixture(scope="module")
def cnn():
    return create_model("cnn", input_shape=SHAPE, seed=0)


@pytest.mark.parametrize("label", [0, 1])
def test_idlg_sign_rule_recovers_batch1_label_from_gradient_and_delta(cnn, label):
    x = _xray_like()
    y = np.array([label])
    assert recover_labels(cnn, shared_gradient(cnn, x, y), 1)[0] == label
    delta = fedavg_update(cnn, x, y, local_steps=2, local_lr=0.05)
    assert recover_labels(cnn, delta, 1, update_kind="delta", local_steps=2, local_lr=0.05)[0] == label


def test_label_count_for_a_batch():
    model = create_model("logistic", input_shape=(6,), seed=0)
    with torch.no_grad():
        model.linear.weight.zero_()
        model.linear.bias.zero_()  # p = 0.5 everywhere: the count estimate is exact
    x = np.random.default_rng(0).random((8, 6)).astype(np.float32)
    y = np.array([1, 1, 1, 0, 0, 0, 0, 0])
    labels = recover_labels(model, shared_gradient(model, x, y), 8, probe_shape=(6,))
    assert labels.sum() == 3


def test_fedavg_update_of_one_full_batch_step_is_minus_lr_gradient(cnn):
    x, y = _xray_like(2), np.array([0, 1])
    g = shared_gradient(cnn, x, y)
    d = fedavg_update(cnn, x, y, local_steps=1, local_lr=0.1)
    assert np.allclose(d, -0.1 * g, atol=1e-6)


def test_inverting_gradients_reconstructs_a_batch1_image(cnn):
    x, y = _xray_like(1, seed=3), np.array([1])
    res = inverting_gradients(cnn, shared_gradient(cnn, x, y), batch_size=1, input_shape=SHAPE,
                              iterations=120, seed=0)
    score = score_reconstruction(res.images, x, recovered_labels=res.labels, true_labels=y)
    assert score.label_accuracy == 1.0
    assert score.mean_psnr > 18.0, score.as_dict()  # noise scores ~5 dB on these images
    assert res.images.min() >= 0 and res.images.max() <= 1


def test_attack_is_seeded_and_deterministic(cnn):
    x, y = _xray_like(1, seed=1), np.array([0])
    g = shared_gradient(cnn, x, y)
    a = inverting_gradients(cnn, g, batch_size=1, input_shape=SHAPE, iterations=5, seed=7)
    b = inverting_gradients(cnn, g, batch_size=1, input_shape=SHAPE, iterations=5, seed=7)
    assert np.array_equal(a.images, b.images)


def test_dlg_and_multistep_delta_run_with_shapes(cnn):
    x, y = _xray_like(2, seed=2), np.array([0, 1])
    r = dlg(cnn, shared_gradient(cnn, x, y), batch_size=2, input_shape=SHAPE,
            config=InversionConfig(cost="l2", iterations=3, box=False, signed_gradients=False))
    assert r.images.shape == (2, *SHAPE) and r.labels.shape == (2,)
    kw = dict(local_steps=2, local_lr=0.05, minibatch_size=1)
    d = fedavg_update(cnn, x, y, **kw)
    r = invert_update(cnn, d, batch_size=2, input_shape=SHAPE, update_kind="delta",
                      config=InversionConfig(iterations=3, restarts=2), **kw)
    assert r.images.shape == (2, *SHAPE) and np.isfinite(r.cost)


def test_bad_parameters_raise_config_errors(cnn):
    g = shared_gradient(cnn, _xray_like(), np.array([1]))
    with pytest.raises(ConfigError, match="update"):
        invert_update(cnn, g[:-1], batch_size=1, input_shape=SHAPE)
    with pytest.raises(ConfigError, match="batch_size"):
        invert_update(cnn, g, batch_size=0, input_shape=SHAPE)
    with pytest.raises(ConfigError, match="labels"):
        invert_update(cnn, g, batch_size=1, input_shape=SHAPE, labels=np.array([0, 1]))
    with pytest.raises(ConfigError, match="cost"):
        InversionConfig(cost="l1")
