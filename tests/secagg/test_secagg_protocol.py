"""Full rounds: correctness, dropouts, failing closed, determinism."""

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from secagg_testkit import exact_mean, make_config, make_parties, make_updates, make_weights, step_to_masked

from fedshield.errors import ConfigError, ProtocolError
from fedshield.secagg import SecAggConfig, Stage, run_secagg
from fedshield.secagg.quantize import step_size

STAGES = ["advertise_keys", "share_keys", "masked_input", "unmask"]


def _check(run, updates, weights, cfg):
    survivors = run.result.survivor_ids
    exact = exact_mean(updates, weights, survivors, cfg.clip_range)
    assert run.result.total_weight == sum(weights[c] for c in survivors)
    assert np.abs(run.result.mean - exact).max() <= run.result.error_bound


@pytest.mark.parametrize("n,k,t", [(12, 10, 6), (12, 11, 7), (20, 6, 4), (9, 4, 3)])
def test_round_matches_plain_weighted_mean(n, k, t):
    cfg = make_config(n=n, k=k, t=t, d=64)
    updates, weights = make_updates(n, 64), make_weights(n)
    run = run_secagg(config=cfg, updates=updates, weights=weights, seed=1)
    assert run.result.survivor_ids == tuple(range(n)) and run.result.dropped_ids == ()
    _check(run, updates, weights, cfg)


def test_error_bound_is_the_documented_formula():
    cfg = make_config(n=6, k=5, t=4, d=8, clip=2.0, max_weight=10)
    run = run_secagg(config=cfg, updates=make_updates(6, 8), weights={c: 10 for c in range(6)}, seed=0)
    assert run.result.error_bound == pytest.approx(6 * step_size(clip_range=2.0, bits=cfg.bits) * 10 / 60)
    assert run.result.error_bound == pytest.approx(2.0 / (2 ** (cfg.bits - 1) - 1))


def _patterns(n, max_drops):
    for size in range(max_drops + 1):
        for who in itertools.combinations(range(n), size):
            for stages in itertools.product(STAGES, repeat=size):
                yield {s: {c for c, s2 in zip(who, stages, strict=True) if s2 == s} for s in set(stages)}


@pytest.mark.parametrize("n,k,t", [(5, 4, 3), (6, 4, 3), (4, 3, 3)])
def test_every_dropout_pattern_within_tolerance_recovers(n, k, t):
    """Exhaustive: every set of up to k + 1 - t clients (n - t for classic SecAgg), each at every stage."""
    d = 6
    cfg = make_config(n=n, k=k, t=t, d=d)
    updates, weights = make_updates(n, d), make_weights(n)
    count = 0
    for drops in _patterns(n, k + 1 - t):
        run = run_secagg(
            config=cfg, updates=updates, weights=weights, dropouts=drops, seed=count, record_messages=False
        )
        early = set().union(*[drops.get(s, set()) for s in STAGES[:3]])
        assert set(run.result.survivor_ids) == set(range(n)) - early
        _check(run, updates, weights, cfg)
        count += 1
    assert count == sum(math.comb(n, s) * len(STAGES) ** s for s in range(k + 2 - t))


@pytest.mark.parametrize(
    "stage,match",
    [
        ("unmask", r"Only 2 shares of client \d+'s self-mask seed survived but 3 are needed"),
        (
            "masked_input",
            r"Only 2 holders of client \d+'s (self-mask seed|mask key) are still online but 3 are needed",
        ),
        ("share_keys", "too many dropouts"),
        ("advertise_keys", "too many dropouts"),
    ],
)
def test_below_threshold_fails_closed_with_counts(stage, match):
    cfg = make_config(n=5, k=4, t=3, d=4)
    with pytest.raises(ProtocolError, match=match):
        run_secagg(config=cfg, updates=make_updates(5, 4), dropouts={stage: {0, 1, 2}}, seed=0)


def test_dropped_clients_are_reported():
    cfg = make_config(n=12, k=10, t=6, d=8)
    run = run_secagg(
        config=cfg,
        updates=make_updates(12, 8),
        dropouts={"share_keys": {1}, "masked_input": {3}, "unmask": {5}},
        seed=0,
    )
    assert run.result.dropped_ids == (1, 3)
    assert 5 in run.result.survivor_ids


def test_seeded_rounds_are_reproducible_and_unseeded_ones_are_not():
    cfg = make_config(n=6, k=4, t=3, d=32)
    ups = make_updates(6, 32)
    a = run_secagg(config=cfg, updates=ups, seed=11)
    b = run_secagg(config=cfg, updates=ups, seed=11)
    c = run_secagg(config=cfg, updates=ups)
    assert np.array_equal(a.result.mean, b.result.mean)
    for cid, vec in a.transcript.masked_vectors().items():
        assert np.array_equal(vec, b.transcript.masked_vectors()[cid])
        assert not np.array_equal(vec, c.transcript.masked_vectors()[cid])
    assert np.abs(a.result.mean - c.result.mean).max() <= 2 * a.result.error_bound


def test_unequal_weights_and_zero_weight_sites():
    cfg = make_config(n=6, k=5, t=4, d=16, max_weight=1000)
    ups = make_updates(6, 16)
    weights = {0: 0, 1: 1000, 2: 1, 3: 250, 4: 0, 5: 999}
    run = run_secagg(config=cfg, updates=ups, weights=weights, seed=2)
    _check(run, ups, weights, cfg)


def test_stages_run_once_and_in_order():
    cfg = make_config(n=4, k=3, t=3)
    clients, server = make_parties(cfg)
    with pytest.raises(ProtocolError, match="stage"):
        clients[0].unmask(None)
    advert = clients[0].advertise_keys()
    with pytest.raises(ProtocolError, match="stages run once"):
        clients[0].advertise_keys()
    server.receive(advert)
    with pytest.raises(ProtocolError, match="already answered"):
        server.receive(advert)
    with pytest.raises(ProtocolError, match="not 'share_keys'|close stages in order"):
        server.close_share_keys()


def test_client_refuses_to_be_listed_as_dropped_and_to_unmask_twice():
    from fedshield.secagg import UnmaskRequest

    cfg = make_config(n=4, k=3, t=3, d=4)
    clients, server = make_parties(cfg)
    inboxes = step_to_masked(cfg, clients, server, make_updates(4, 4), make_weights(4))
    for c in cfg.client_ids:
        server.receive(clients[c].masked_input(inboxes[c], update=make_updates(4, 4)[c], weight=1))
    requests = server.close_stage()
    with pytest.raises(ProtocolError, match="lists it as dropped"):
        clients[0].unmask(UnmaskRequest(0, (1, 2, 3)))
    clients[1].unmask(requests[1])
    with pytest.raises(ProtocolError, match="stages run once"):
        clients[1].unmask(requests[1])


def test_bad_inputs_say_how_to_fix():
    cfg = make_config(n=4, k=3, t=3, d=4)
    with pytest.raises(ConfigError, match="update"):
        run_secagg(config=cfg, updates={c: np.zeros(5, np.float32) for c in range(4)})
    with pytest.raises(ConfigError, match="finite"):
        run_secagg(config=cfg, updates={c: np.full(4, np.nan, np.float32) for c in range(4)})
    with pytest.raises(ConfigError, match="weight"):
        run_secagg(config=cfg, updates=make_updates(4, 4), weights={c: 101 for c in range(4)})
    with pytest.raises(ConfigError, match="dropouts"):
        run_secagg(config=cfg, updates=make_updates(4, 4), dropouts={"consistency_check": {1}})


@pytest.mark.parametrize(
    "kwargs,name",
    [
        (dict(degree=4, threshold=2), "threshold"),  # not more than half of 5 holders
        (dict(degree=4, threshold=6), "threshold"),
        (dict(degree=3), "degree"),  # odd degree, odd n
        (dict(degree=9), "degree"),
        (dict(bits=30), "bits"),  # 9 clients need 4 bits of headroom
        (dict(max_weight=1 << 30), "max_weight"),
    ],
)
def test_config_validation(kwargs, name):
    base = dict(round_id=b"r" * 16, client_ids=range(9), dim_params=4, graph_seed=b"g" * 16, clip_range=1.0)
    with pytest.raises(ConfigError, match=name):
        SecAggConfig.for_round(**{**base, **kwargs})


def test_for_round_defaults_are_valid():
    cfg = SecAggConfig.for_round(
        round_id=b"r" * 16, client_ids=range(101), dim_params=4, graph_seed=b"g" * 16, clip_range=1.0
    )
    assert cfg.degree % 2 == 0 and cfg.threshold > (cfg.degree + 1) / 2 and cfg.bits == 25
    assert cfg.neighbours  # graph builds
    assert Stage.UNMASK.value == "unmask"


@settings(max_examples=25, deadline=None)
@given(n=st.integers(3, 14), data=st.data())
def test_random_graphs_and_dropouts_within_tolerance_recover(n, data):
    k = data.draw(st.integers(2, n - 1).filter(lambda k: not (k % 2 and n % 2)))
    t = data.draw(st.integers((k + 1) // 2 + 1, k + 1))
    cfg = make_config(n=n, k=k, t=t, d=8)
    budget = k + 1 - t  # dropouts any neighbourhood can absorb
    who = data.draw(st.lists(st.integers(0, n - 1), max_size=budget, unique=True))
    stages = data.draw(st.lists(st.sampled_from(STAGES), min_size=len(who), max_size=len(who)))
    drops = {}
    for c, s in zip(who, stages, strict=True):
        drops.setdefault(s, set()).add(c)
    updates, weights = make_updates(n, 8, seed=n), make_weights(n, seed=n)
    run = run_secagg(
        config=cfg, updates=updates, weights=weights, dropouts=drops, seed=n, record_messages=False
    )
    _check(run, updates, weights, cfg)


def test_medium_round_with_mixed_dropouts():
    n, d = 40, 20_000
    cfg = make_config(n=n, k=10, t=6, d=d, max_weight=1000)
    updates, weights = make_updates(n, d), make_weights(n, max_weight=1000)
    drops = {"advertise_keys": {0}, "share_keys": {10}, "masked_input": {20, 21}, "unmask": {30}}
    run = run_secagg(
        config=cfg, updates=updates, weights=weights, dropouts=drops, seed=5, record_messages=False
    )
    assert run.result.dropped_ids == (0, 10, 20, 21)
    _check(run, updates, weights, cfg)


def test_large_round_n100_with_ten_percent_dropouts():
    n, d = 100, 200_000
    cfg = make_config(n=n, k=14, t=8, d=d, max_weight=1000)
    updates, weights = make_updates(n, d), make_weights(n, max_weight=1000)
    drops = {"masked_input": set(range(0, 100, 10))}
    run = run_secagg(
        config=cfg, updates=updates, weights=weights, dropouts=drops, seed=6, record_messages=False
    )
    assert len(run.result.survivor_ids) == 90
    _check(run, updates, weights, cfg)
