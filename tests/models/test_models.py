import numpy as np
import pytest
import torch

from fedshield.errors import ConfigError
from fedshield.models import create_model, list_models
from fedshield.models.params import get_flat_params, num_params, set_flat_params


@pytest.mark.parametrize("name,shape", [("logistic", (13,)), ("mlp", (30,)), ("cnn", (1, 28, 28))])
def test_models_output_one_logit_and_roundtrip_params(name, shape):
    m = create_model(name, input_shape=shape, seed=1)
    assert m(torch.zeros(5, *shape)).shape == (5,)
    flat = get_flat_params(m)
    assert flat.dtype == np.float32 and flat.shape == (num_params(m),)
    m2 = create_model(name, input_shape=shape, seed=2)
    assert not np.array_equal(get_flat_params(m2), flat)
    set_flat_params(m2, flat)
    np.testing.assert_array_equal(get_flat_params(m2), flat)


def test_same_seed_same_initial_weights():
    a = get_flat_params(create_model("cnn", input_shape=(1, 28, 28), seed=5))
    b = get_flat_params(create_model("cnn", input_shape=(1, 28, 28), seed=5))
    np.testing.assert_array_equal(a, b)


def test_bad_inputs_are_refused():
    assert list_models() == ["cnn", "logistic", "mlp"]
    with pytest.raises(ConfigError, match="'model' parameter must be one of"):
        create_model("resnet", input_shape=(3,), seed=0)
    m = create_model("logistic", input_shape=(3,), seed=0)
    with pytest.raises(ConfigError, match="flat vector of 4 values"):
        set_flat_params(m, np.zeros(5, np.float32))
    with pytest.raises(ConfigError, match="finite"):
        set_flat_params(m, np.array([0, np.nan, 0, 0], np.float32))


def test_cnn_on_tabular_data_says_which_model_to_use():
    from fedshield.errors import ConfigError
    from fedshield.models import create_model

    with pytest.raises(ConfigError, match="use 'logistic' or 'mlp' for tabular data"):
        create_model("cnn", input_shape=(30,), seed=0)
