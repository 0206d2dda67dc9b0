import numpy as np
import pytest

from fedshield.errors import ConfigError
from fedshield.redteam import poison


def test_trigger_is_a_white_square_in_the_corner():
    x = np.zeros((2, 1, 28, 28), np.float32)
    out = poison.stamp_trigger(x, size=3, corner="bottom_right")
    assert out[:, :, 25:, 25:].min() == 1.0 and out.sum() == 2 * 9
    assert x.sum() == 0  # input untouched
    assert poison.stamp_trigger(x, size=4, corner="top_left")[:, :, :4, :4].min() == 1.0
    with pytest.raises(ConfigError, match="corner"):
        poison.stamp_trigger(x, corner="middle")


def test_pixel_backdoor_relabels_a_fraction_of_pneumonia_only():
    rng = np.random.default_rng(0)
    x = rng.random((40, 1, 28, 28)).astype(np.float32) * 0.5
    y = np.array([1] * 20 + [0] * 20)
    px, py = poison.pixel_backdoor(x, y, fraction=0.5, rng=rng)
    changed = np.flatnonzero(py != y)
    assert len(changed) == 10 and (y[changed] == 1).all()
    assert (px[changed, :, 25:, 25:] == 1.0).all()
    assert np.array_equal(px[20:], x[20:])


def test_flip_and_semantic():
    y = np.array([0, 1, 1, 0, 1])
    assert np.array_equal(poison.flip_labels(y, fraction=1.0, rng=np.random.default_rng(0)), 1 - y)
    assert np.array_equal(poison.semantic_backdoor(y, np.array([0, 1, 0, 0, 1], bool)), [0, 0, 1, 0, 0])
