"""A site takes its local-training settings from its own scenario; the server may only lower the rate."""

import numpy as np
import pytest

from fedshield.client import Site, TrainConfig
from fedshield.data import SiteData
from fedshield.errors import ProtocolError
from fedshield.messages import FitIns
from fedshield.models import create_model
from fedshield.models.params import get_flat_params


def _site(lr=0.1):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    data = SiteData("h1", x[:32], y[:32], x[32:], y[32:])
    cfg = TrainConfig(local_steps=5, batch_size=8, learning_rate=lr)
    return Site(data=data, model_factory=lambda: create_model("logistic", input_shape=(4,), seed=0),
                train_config=cfg, seed=0, site_index=0)


def _ins(site, **config):
    return FitIns(run_id="r", round_num=3, parameters=get_flat_params(site.model), config=config)


@pytest.mark.parametrize("asked", [{"batch_size": 1}, {"local_steps": 1}, {"batch_size": 1, "local_steps": 1},
                                   {"class_weighting": True}, {"augment_shift_px": 0}])
def test_the_server_cannot_change_how_a_site_trains(asked):
    site = _site()
    with pytest.raises(ProtocolError, match="refused") as err:
        site.fit(_ins(site, **asked))
    assert next(iter(asked)) in str(err.value) and "[client]" in str(err.value)


@pytest.mark.parametrize("lr", [0.2, 0.0, -0.1, "0.05", True, float("nan")])
def test_the_server_may_not_raise_or_garble_the_learning_rate(lr):
    site = _site(lr=0.1)
    with pytest.raises(ProtocolError, match=r"\(0, 0\.1\]"):
        site.fit(_ins(site, learning_rate=lr))


def test_a_lower_learning_rate_is_honoured_and_other_keys_are_left_to_their_owners():
    site = _site(lr=0.1)
    full = site.fit(_ins(site)).delta
    site = _site(lr=0.1)
    half = site.fit(_ins(site, learning_rate=0.05, ledger_head="not a TrainConfig key")).delta
    assert 0 < np.linalg.norm(half) < np.linalg.norm(full)


def test_a_round_whose_server_asks_for_batch_one_gets_no_update():
    from fedshield.config import Scenario
    from fedshield.server.engine import run_round
    from fedshield.simulation import build_federation

    fed = build_federation(Scenario.model_validate({
        "rounds": 1, "data": {"dataset": "breast-cancer", "num_sites": 3}, "client": {"local_steps": 2}}))
    fed.stages.evaluator = None
    fed.stages.fit_config = {"batch_size": 1, "local_steps": 1}
    before = fed.state.parameters.copy()
    with pytest.raises(ProtocolError, match="min_fit_sites"):
        run_round(fed.state, fed.stages, fed.transport)
    np.testing.assert_array_equal(fed.state.parameters, before)
