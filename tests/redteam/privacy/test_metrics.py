"""Scoring must be right before any attack number means anything."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fedshield.errors import ConfigError
from fedshield.redteam.privacy.metrics import (
    match_reconstructions,
    psnr,
    roc_auc,
    score_reconstruction,
    ssim,
    tpr_at_fpr,
)


def _images(n=4, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.random((n, 1, 12, 12))
    return base.astype(np.float32)


def test_psnr_known_value_and_identity():
    a = np.zeros((1, 1, 4, 4))
    b = np.full((1, 1, 4, 4), 0.1)  # mse 0.01 -> 20 dB
    assert psnr(a, b)[0] == pytest.approx(20.0)
    assert psnr(a, a)[0] == 100.0


def test_ssim_identity_and_ordering():
    x = _images()
    assert np.allclose(ssim(x, x), 1.0)
    noisy = np.clip(x + 0.05 * np.random.default_rng(1).standard_normal(x.shape), 0, 1)
    assert (ssim(noisy, x) < 0.999).all()
    assert (ssim(1 - x, x) < ssim(noisy, x)).all()
    assert np.allclose(ssim(noisy, x), ssim(x, noisy))


def test_shape_mismatch_is_a_config_error():
    with pytest.raises(ConfigError, match="target"):
        psnr(np.zeros((2, 1, 4, 4)), np.zeros((3, 1, 4, 4)))


def test_hungarian_matching_undoes_a_permutation():
    x = _images(6)
    perm = np.array([3, 0, 5, 1, 4, 2])
    recon = np.empty_like(x)
    recon[perm] = x  # recon[perm[i]] == x[i]
    assert (match_reconstructions(recon, x) == perm).all()
    sc = score_reconstruction(recon, x, recovered_labels=np.arange(6)[np.argsort(perm)] * 0 + 1,
                              true_labels=np.ones(6))
    assert sc.mean_psnr == 100.0 and sc.label_accuracy == 1.0


def test_roc_extremes_and_low_fpr():
    m = np.r_[np.ones(50, bool), np.zeros(50, bool)]
    s = np.r_[np.arange(50) + 100.0, np.arange(50)]
    assert roc_auc(s, m) == pytest.approx(1.0)
    assert roc_auc(-s, m) == pytest.approx(0.0)
    assert tpr_at_fpr(s, m, 0.001) == 1.0
    assert tpr_at_fpr(-s, m, 0.01) == 0.0
    with pytest.raises(ConfigError):
        roc_auc(s, np.ones(100, bool))


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(-5, 5, allow_nan=False), min_size=4, max_size=40, unique=True), st.integers(0, 10))
def test_auc_complement_property(scores, seed):
    s = np.array(scores)
    m = np.random.default_rng(seed).permutation(np.arange(len(s)) % 2 == 0)
    assert roc_auc(s, m) + roc_auc(-s, m) == pytest.approx(1.0)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 1), min_size=1, max_size=6), st.lists(st.integers(0, 1), min_size=1, max_size=6))
def test_image_blind_baseline_is_the_mean_over_every_matching(recovered, true):
    import itertools

    from fedshield.redteam.privacy.metrics import image_blind_label_accuracy

    n = min(len(recovered), len(true))
    r, t = np.array(recovered[:n]), np.array(true[:n])
    exact = np.mean([np.mean(r[list(p)] == t) for p in itertools.permutations(range(n))])
    assert image_blind_label_accuracy(r, t) == pytest.approx(exact)


def test_image_blind_baseline_refuses_mismatched_labels():
    from fedshield.redteam.privacy.metrics import image_blind_label_accuracy

    with pytest.raises(ConfigError, match="true_labels"):
        image_blind_label_accuracy([1, 0], [1])


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 500), st.data())
def test_wilson_interval_holds_the_estimate_and_stays_in_0_1(trials, data):
    from fedshield.redteam.privacy.metrics import wilson_interval

    k = data.draw(st.integers(0, trials))
    lo, hi = wilson_interval(k, trials)
    assert 0.0 <= lo <= k / trials <= hi <= 1.0
    assert wilson_interval(123, 256) == pytest.approx((0.4196, 0.5418), abs=1e-3)
    with pytest.raises(ConfigError):
        wilson_interval(3, 2)


def test_reidentification_finds_the_own_record_and_not_the_mean_image():
    from fedshield.redteam.privacy.metrics import reidentified

    rng = np.random.default_rng(0)
    records = rng.random((40, 1, 8, 8))
    target, pool = records[:10], records[10:]
    noisy = target + 0.05 * rng.standard_normal(target.shape)  # a faithful reconstruction
    assert reidentified(noisy, target, pool).all()
    # A data-free guess picks out its "own" record only when that record happens to be the most
    # average of the 31 candidates: about 1 in 31.
    mean = np.broadcast_to(records.mean(0), target.shape)
    assert reidentified(mean, target, pool).mean() <= 0.2
    # Reconstructions matched to the wrong records re-identify nobody.
    assert not reidentified(noisy[::-1], target, pool)[:4].any()


def test_reidentification_refuses_mismatched_shapes():
    from fedshield.redteam.privacy.metrics import reidentified

    with pytest.raises(ConfigError, match="distractors"):
        reidentified(np.zeros((2, 1, 4, 4)), np.zeros((2, 1, 4, 4)), np.zeros((3, 1, 5, 4)))
    with pytest.raises(ConfigError, match="target"):
        reidentified(np.zeros((2, 1, 4, 4)), np.zeros((3, 1, 4, 4)), np.zeros((3, 1, 4, 4)))


def test_reidentification_control_measures_what_matching_alone_gives():
    from fedshield.redteam.privacy.metrics import reidentified, reidentified_control

    rng = np.random.default_rng(1)
    pool = rng.random((400, 1, 6, 6))
    distractors = pool[:99]
    # Reconstructions that carry nothing about their batch: the control and the "attack" agree, and
    # with 40 records per batch the matching alone beats 99 distractors far more often than 1 %.
    batches = [(pool[100 + 40 * t: 140 + 40 * t], rng.random((40, 1, 6, 6))) for t in range(4)]
    control = reidentified_control(batches, distractors)
    assert control.shape == (160,) and control.mean() > 0.05
    # Faithful reconstructions re-identify everyone, their unrelated neighbours almost nobody.
    faithful = [(x, x + 0.01 * rng.standard_normal(x.shape)) for x, _ in batches]
    from fedshield.redteam.privacy.metrics import match_reconstructions

    own = np.concatenate([reidentified(r[match_reconstructions(r, x)], x, distractors) for x, r in faithful])
    assert own.all()
    assert reidentified_control(batches[:1], distractors) is None
    assert reidentified_control([(pool[:5], pool[:5]), (pool[5:8], pool[5:8])], distractors) is None
