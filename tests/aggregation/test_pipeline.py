"""RobustPipeline, registry and the stateful rules across rounds."""

from __future__ import annotations

import numpy as np
import pytest

from fedshield.aggregation import (
    Aggregator,
    RobustPipeline,
    create_aggregator,
    create_pre_aggregator,
    list_aggregators,
    register_aggregator,
)
from fedshield.aggregation import kernels as K
from fedshield.errors import AggregationError, ConfigError

from ._helpers import honest_updates


def test_registry_lists_every_rule():
    expected = {"mean", "median", "trimmed_mean", "krum", "multi_krum", "bulyan", "geometric_median",
                "centered_clipping", "fltrust", "foolsgold", "flame"}
    assert expected <= set(list_aggregators())


def test_unknown_names_and_params_are_config_errors():
    with pytest.raises(ConfigError, match="must be one of"):
        create_aggregator("krumm")
    with pytest.raises(ConfigError, match="keyword-only"):
        create_pre_aggregator("nnm", g=1)
    with pytest.raises(ConfigError, match="'f' parameter of Krum must be an int >= 0"):
        create_aggregator("krum", f=-2)


def test_pipeline_equals_manual_chain(rng):
    x = honest_updates(15, 90)
    w = rng.uniform(1, 9, 15)
    pipe = RobustPipeline(pre=[create_pre_aggregator("nnm", f=3)], aggregator=create_aggregator("krum", f=3))
    np.testing.assert_array_equal(pipe(x, w), K.krum(K.nearest_neighbor_mixing(x, f=3), f=3))
    assert pipe(x, w).dtype == np.float32 and pipe.min_updates() == 4


def test_from_config_and_names():
    pipe = RobustPipeline.from_config(
        {"aggregator": {"name": "trimmed_mean", "f": 2}, "pre": [{"name": "arc", "f": 2}, {"name": "nnm", "f": 1}]}
    )
    assert [p.name for p in pipe.pre] == ["arc", "nnm"] and pipe.aggregator.f == 2
    assert RobustPipeline(aggregator="median").aggregator.name == "median"
    with pytest.raises(ConfigError):
        RobustPipeline.from_config({"aggregator": 3})


def test_bucketing_drops_client_ids_so_foolsgold_refuses():
    x = honest_updates(8, 20)
    pipe = RobustPipeline(pre=[create_pre_aggregator("bucketing", bucket_size=2, seed=0)],
                          aggregator=create_aggregator("foolsgold"))
    with pytest.raises(AggregationError, match="client_ids"):
        pipe(x, client_ids=[str(i) for i in range(8)])


def test_pipeline_rng_makes_bucketing_reproducible():
    x = honest_updates(12, 30)
    pipe = RobustPipeline(pre=["bucketing"], aggregator="median")
    a = pipe(x, rng=np.random.default_rng(5))
    b = pipe(x, rng=np.random.default_rng(5))
    assert np.array_equal(a, b)


def test_centered_clipping_uses_previous_aggregate_and_resets():
    cc = create_aggregator("centered_clipping", tau_l2=0.1, n_iter=1)
    x = honest_updates(9, 40)
    first = cc(x)
    second = cc(x)
    np.testing.assert_allclose(second, K.centered_clipping(x, tau_l2=0.1, n_iter=1, centre=first), rtol=1e-6)
    cc.reset()
    np.testing.assert_array_equal(cc(x), first)


def test_foolsgold_state_is_keyed_by_client_id():
    rng = np.random.default_rng(0)
    fg = create_aggregator("foolsgold")
    ids = [f"h{i}" for i in range(5)] + ["s0", "s1", "s2"]
    sybil_dir = rng.normal(size=60) * 2
    for _ in range(3):
        honest = rng.normal(size=(5, 60))
        sybils = np.tile(sybil_dir, (3, 1)) + rng.normal(scale=0.05, size=(3, 60))
        out = fg(np.vstack([honest, sybils]).astype(np.float32), client_ids=ids)
    # the sybils' shared direction is (almost) absent from the aggregate
    assert abs(out @ sybil_dir) / np.linalg.norm(sybil_dir) < 0.5
    assert sorted(fg._history) == sorted(ids)
    # the same clients in another order get the same result: state follows the id
    x = rng.normal(size=(8, 60)).astype(np.float32)
    perm = rng.permutation(8)
    fg_copy = create_aggregator("foolsgold")
    fg_copy._history = {k: v.copy() for k, v in fg._history.items()}
    np.testing.assert_allclose(fg(x, client_ids=ids), fg_copy(x[perm], client_ids=[ids[i] for i in perm]),
                               rtol=1e-5, atol=1e-6)


def test_custom_rule_plugs_into_registry_and_pipeline():
    @register_aggregator
    class FirstSite(Aggregator):
        name = "first_site_for_test"

        def __init__(self) -> None:
            pass

        def _aggregate(self, x, w, **_):
            return x[0].copy()

    x = honest_updates(4, 5)
    assert np.array_equal(RobustPipeline(aggregator="first_site_for_test")(x), x[0])


def test_inputs_never_modified_through_the_pipeline():
    x = honest_updates(13, 50)
    x.setflags(write=False)
    before = x.copy()
    pre = ["bucketing", create_pre_aggregator("arc", f=1), create_pre_aggregator("norm_bound", max_norm_l2=1.0)]
    pipe = RobustPipeline(pre=pre, aggregator=create_aggregator("bulyan", f=0))
    pipe(x, np.ones(13), rng=np.random.default_rng(0))
    assert np.array_equal(x, before)
