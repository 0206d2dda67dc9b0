import numpy as np
import pytest
from secagg_testkit import exact_mean, make_updates, make_weights

from fedshield.errors import ConfigError, ProtocolError
from fedshield.secagg.buckets import assign_buckets, bucket_configs, run_bucketed_secagg


def test_buckets_partition_sites_with_sizes_s_or_more():
    buckets = assign_buckets(range(23), bucket_size=5, seed=b"x" * 16)
    assert len(buckets) == 4
    assert sorted(c for b in buckets for c in b) == list(range(23))
    assert all(5 <= len(b) <= 6 for b in buckets)
    assert buckets == assign_buckets(list(reversed(range(23))), bucket_size=5, seed=b"x" * 16)
    assert buckets != assign_buckets(range(23), bucket_size=5, seed=b"y" * 16)


def test_bucket_size_is_validated():
    with pytest.raises(ConfigError, match="bucket_size"):
        assign_buckets(range(10), bucket_size=1, seed=b"x" * 16)
    with pytest.raises(ConfigError, match="at least"):
        assign_buckets(range(3), bucket_size=4, seed=b"x" * 16)


def _setup(n=20, s=5, d=16):
    configs = bucket_configs(
        round_id=b"round-0001",
        client_ids=range(n),
        bucket_size=s,
        dim_params=d,
        graph_seed=b"g" * 32,
        clip_range=1.0,
        max_weight=100,
    )
    return configs, make_updates(n, d), make_weights(n)


def test_bucket_means_match_plain_means_and_combine_to_global_mean():
    configs, ups, ws = _setup()
    assert len({c.round_id for c in configs}) == len(configs)
    out = run_bucketed_secagg(configs=configs, updates=ups, weights=ws, seed=1)
    assert out.means().shape == (4, 16)
    for cfg, res in zip(configs, out.results, strict=True):
        assert np.abs(res.mean - exact_mean(ups, ws, cfg.client_ids, 1.0)).max() <= res.error_bound
    glob = exact_mean(ups, ws, range(20), 1.0)
    assert np.abs(out.weighted_mean() - glob).max() < 1e-6


def test_a_poisoned_site_corrupts_only_its_bucket_and_the_median_survives():
    configs, _, _ = _setup()
    ups, ws = make_updates(20, 16, scale=0.02), {c: 100 for c in range(20)}
    ups[7] = np.full(16, 1e6, dtype=np.float32)  # clipped to +1, still far off
    out = run_bucketed_secagg(configs=configs, updates=ups, weights=ws, seed=2)
    poisoned = [i for i, cfg in enumerate(configs) if 7 in cfg.client_ids]
    assert np.argmax(out.means().mean(axis=1)) == poisoned[0]
    honest = exact_mean(ups, ws, [c for c in range(20) if c != 7], 1.0)
    robust_err = np.abs(np.median(out.means(), axis=0) - honest).max()
    plain_err = np.abs(out.weighted_mean() - honest).max()
    assert robust_err < 0.02 < plain_err


def test_failed_bucket_fails_closed_or_is_skipped():
    configs, ups, ws = _setup()
    victims = set(configs[0].client_ids[:4])
    with pytest.raises(ProtocolError):
        run_bucketed_secagg(configs=configs, updates=ups, weights=ws, dropouts={"unmask": victims}, seed=3)
    out = run_bucketed_secagg(
        configs=configs,
        updates=ups,
        weights=ws,
        dropouts={"unmask": victims},
        skip_failed_buckets=True,
        seed=3,
    )
    assert out.failed_buckets == (configs[0].client_ids,) and len(out.results) == 3
