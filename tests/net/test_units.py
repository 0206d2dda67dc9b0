"""Fast unit checks: configs, codec, streaming mean, checkpoint, rate limit."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fedshield.errors import AggregationError, ConfigError, VerificationError
from fedshield.net import checkpoint
from fedshield.net.codec import bytes_to_params, from_npy, npy_bytes, params_to_bytes
from fedshield.net.config import load_server_config, load_site_config
from fedshield.net.interceptors import RateLimiter
from fedshield.net.streaming import StreamingMean

REPO = Path(__file__).resolve().parents[2]


def test_example_configs_load_and_unknown_keys_refused(tmp_path):
    assert load_server_config(REPO / "examples/deploy/server.toml").server.input_shape == [13]
    assert load_site_config(REPO / "examples/deploy/site.toml").site.id == "cleveland"
    bad = tmp_path / "s.toml"
    bad.write_text((REPO / "examples/deploy/site.toml").read_text().replace("poll_s = 5", "pol_s = 5"))
    with pytest.raises(ConfigError, match="pol_s"):
        load_site_config(bad)
    with pytest.raises(ConfigError, match="does not exist"):
        load_server_config(tmp_path / "missing.toml")


def test_he_key_paths_resolve_against_the_config_file(tmp_path):
    # the examples' commented [he] sections, switched on: paths are relative to each file's folder
    for name, key in (("server.toml", "public_key"), ("site.toml", "sealed_key")):
        text = (REPO / "examples/deploy" / name).read_text().replace("# [he]", "[he]")
        text = text.replace(f"# {key} =", f"{key} =")
        (tmp_path / name).write_text(text)
        load = load_server_config if name == "server.toml" else load_site_config
        cfg = load(tmp_path / name)
        got = getattr(cfg.he, key)
        assert Path(got).is_absolute() and Path(got).parent == tmp_path / "ckks-keys", got


def test_codec_refuses_nan_and_wrong_size():
    x = np.arange(5, dtype=np.float32)
    assert np.array_equal(bytes_to_params(params_to_bytes(x), 5), x)
    with pytest.raises(VerificationError, match="bytes"):
        bytes_to_params(params_to_bytes(x), 6)
    x[2] = np.inf
    with pytest.raises(VerificationError, match="NaN or infinite"):
        bytes_to_params(params_to_bytes(x), 5)
    s = np.random.default_rng(0).random(7)
    assert np.array_equal(from_npy(npy_bytes(s)), s)
    with pytest.raises(VerificationError):
        from_npy(b"not npy")


def test_streaming_mean_matches_weighted_mean_and_refuses_double_count():
    rng = np.random.default_rng(1)
    ups, ws = rng.standard_normal((4, 100)).astype(np.float32), [10, 20, 30, 40]
    m = StreamingMean(100)
    for i, (u, w) in enumerate(zip(ups, ws)):
        m(f"s{i}", u, w)
    with pytest.raises(AggregationError):
        m("s0", ups[0], 10)
    mean, sites = m.finish()
    assert sites == ["s0", "s1", "s2", "s3"]
    assert np.allclose(mean, np.average(ups, axis=0, weights=ws), atol=1e-6)


def test_checkpoint_round_trip_and_wrong_run(tmp_path):
    p = np.arange(3, dtype=np.float32)
    checkpoint.save(tmp_path, run_id="r", round_num=2, parameters=p, optimizer={"m": np.ones(3), "v": None},
                    history=[{"round_num": 1}, {"round_num": 2}])
    c = checkpoint.load(tmp_path, "r")
    assert c["round"] == 2 and np.array_equal(c["parameters"], p) and c["optimizer"]["v"] is None
    assert np.array_equal(c["optimizer"]["m"], np.ones(3))
    with pytest.raises(ConfigError, match="belongs to run"):
        checkpoint.load(tmp_path, "other")
    assert checkpoint.load(tmp_path / "none", "r") is None


def test_rate_limiter():
    rl = RateLimiter(rate_per_s=0.001, burst=3)
    assert [rl.allow("a") for _ in range(4)] == [True, True, True, False]
    assert rl.allow("b")


@pytest.mark.slow
@pytest.mark.network
def test_benchmark_quick_prints_one_json_line():
    out = subprocess.run([sys.executable, str(REPO / "benchmarks/network.py"), "--quick"], capture_output=True,
                         text=True, timeout=170, check=True).stdout.strip().splitlines()
    doc = json.loads(out[-1])
    assert set(doc) == {"round_overhead_over_memory", "throughput_mb_s", "server_peak_rss_mb", "sites", "params"}
    assert doc["sites"] == 8 and doc["throughput_mb_s"] > 0


def test_cli_subcommands_register():
    import argparse

    from fedshield.cli import ca, serve

    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="command")
    ca.register(sub)
    serve.register(sub)
    assert p.parse_args(["server", "--config", "s.toml"]).handler.__name__ == "_server"
    assert p.parse_args(["client", "--config", "c.toml"]).handler.__name__ == "_client"
    assert p.parse_args(["ca", "revoke", "--dir", "d", "--cert", "c"]).handler.__name__ == "_revoke"


def test_server_cli_reports_bad_config(tmp_path):
    from fedshield.net.__main__ import main

    assert main(["server", "--config", str(tmp_path / "nope.toml")]) == 2
