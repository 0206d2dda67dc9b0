import numpy as np
import pytest

from fedshield.client import TrainConfig, train_locally
from fedshield.errors import ConfigError
from fedshield.models import create_model
from fedshield.models.params import get_flat_params


def _data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(64, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    return x, y


def test_training_is_deterministic_and_reduces_loss():
    x, y = _data()
    cfg = TrainConfig(local_steps=50, batch_size=8, learning_rate=0.5)
    runs = []
    for _ in range(2):
        m = create_model("logistic", input_shape=(4,), seed=0)
        loss = train_locally(m, x, y, cfg, seed=7)
        runs.append((loss, get_flat_params(m)))
    assert runs[0][0] == runs[1][0]
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    m = create_model("logistic", input_shape=(4,), seed=0)
    early = train_locally(m, x, y, TrainConfig(local_steps=1, batch_size=64, learning_rate=1e-9), seed=7)
    assert runs[0][0] < early


def test_fedprox_keeps_weights_closer_to_the_global_model():
    x, y = _data()
    start = get_flat_params(create_model("logistic", input_shape=(4,), seed=0))
    dist = {}
    for mu in (0.0, 10.0):
        m = create_model("logistic", input_shape=(4,), seed=0)
        train_locally(m, x, y, TrainConfig(local_steps=100, batch_size=8, learning_rate=0.1, proximal_mu=mu), seed=1)
        dist[mu] = np.linalg.norm(get_flat_params(m) - start)
    assert dist[10.0] < dist[0.0]


@pytest.mark.parametrize("kw,key", [({"local_steps": 0}, "local_steps"), ({"learning_rate": -1}, "learning_rate"),
                                    ({"optimizer": "lbfgs"}, "optimizer"), ({"proximal_mu": -1}, "proximal_mu")])
def test_bad_train_config_is_refused(kw, key):
    with pytest.raises(ConfigError, match=f"'{key}' parameter of TrainConfig"):
        TrainConfig(**kw)
