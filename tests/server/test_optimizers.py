import numpy as np
import pytest

from fedshield.errors import ConfigError
from fedshield.server.optimizers import create_server_optimizer, list_server_optimizers


def test_fedavg_applies_delta_scaled_by_learning_rate():
    opt = create_server_optimizer("fedavg", learning_rate=0.5)
    out = opt.step(np.ones(3, np.float32), np.array([2, -2, 0], np.float32))
    np.testing.assert_allclose(out, [2, 0, 1])


@pytest.mark.parametrize("name", ["fedadam", "fedyogi", "fedadagrad"])
def test_adaptive_first_step_matches_reddi_et_al(name):
    # Reddi et al. 2021, Alg. 2: m1 = (1-b1) d, v1 from v0 = tau^2, x1 = x0 + eta m1 / (sqrt(v1) + tau)
    eta, b1, b2, tau = 0.1, 0.9, 0.99, 1e-3
    opt = create_server_optimizer(name, learning_rate=eta, beta1=b1, beta2=b2, tau=tau)
    x0 = np.zeros(2, np.float32)
    d = np.array([0.5, -0.25])
    m = (1 - b1) * d
    v0 = np.full(2, tau**2)
    v = {
        "fedadam": b2 * v0 + (1 - b2) * d**2,
        "fedyogi": v0 - (1 - b2) * d**2 * np.sign(v0 - d**2),
        "fedadagrad": v0 + d**2,
    }[name]
    np.testing.assert_allclose(opt.step(x0, d.astype(np.float32)), eta * m / (np.sqrt(v) + tau), rtol=1e-5)


def test_adaptive_state_roundtrips():
    a = create_server_optimizer("fedadam", learning_rate=0.1)
    x = a.step(np.zeros(4, np.float32), np.ones(4, np.float32))
    b = create_server_optimizer("fedadam", learning_rate=0.1)
    b.load_state_dict(a.state_dict())
    np.testing.assert_array_equal(a.step(x, np.ones(4, np.float32)), b.step(x, np.ones(4, np.float32)))


def test_unknown_optimizer_and_bad_params_are_refused():
    assert list_server_optimizers() == ["fedadagrad", "fedadam", "fedavg", "fedyogi"]
    with pytest.raises(ConfigError, match="'optimizer' parameter of server must be one of"):
        create_server_optimizer("sgd")
    with pytest.raises(ConfigError, match="'beta1' parameter of FedYogi"):
        create_server_optimizer("fedyogi", beta1=1.5)
    with pytest.raises(ConfigError, match="'learning_rate'"):
        create_server_optimizer("fedavg", learning_rate=0)
