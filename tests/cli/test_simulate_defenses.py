"""``fedshield simulate`` with the defenses switched on from the scenario file."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fedshield.cli.main import main
from fedshield.config import validate_scenario
from fedshield.errors import ConfigError
from fedshield.simulation import simulate


def _write(tmp_path, text: str):
    p = tmp_path / "scenario.toml"
    p.write_text(text)
    return p


def test_sample_level_dp_reports_epsilon_and_utility_cost(tmp_path):
    sc = _write(tmp_path, 'rounds = 3\n[privacy]\nmode = "sample"\nepsilon = 2.0\ndelta = 1e-4\n')
    out = tmp_path / "run"
    assert main(["simulate", str(sc), "--quiet", "--out", str(out)]) == 0
    doc = json.loads((out / "metrics.json").read_text())
    p = doc["privacy"]
    assert p["mode"] == "sample" and p["accountant"] == "rdp"
    assert set(p["final_epsilon"]) == set(doc["sites"])
    for sid, eps in p["final_epsilon"].items():
        assert 0 < eps <= 2.0, sid  # calibrated to spend (almost) the whole budget, never more
        assert p["epsilon_per_round"][sid] == sorted(p["epsilon_per_round"][sid])
    u = p["utility"]
    assert u["rounds_without_dp"] == 3
    assert u["accuracy_cost"] == pytest.approx(u["without_dp"]["accuracy"] - u["with_dp"]["accuracy"])
    html = (out / "report.html").read_text()
    assert "Differential privacy" in html and "Utility cost" in html and "not suitable for production" in html


def test_secure_aggregation_from_the_scenario_matches_plain_fedavg():
    plain = validate_scenario({"rounds": 2, "client": {"local_steps": 3}})
    secure = validate_scenario({"rounds": 2, "client": {"local_steps": 3},
                                "secure_aggregation": {"enabled": True, "clip_range": 4.0}})
    a, b = simulate(plain), simulate(secure)
    # Fixed-point masking of a sum: equal up to the quantization step, not bit-for-bit.
    np.testing.assert_allclose(a.final_parameters, b.final_parameters, atol=1e-4)
    assert b.extra["secure_aggregation"]["last_round_buckets"][0]["survivors"]


def test_client_level_dp_with_secure_aggregation_runs_and_accounts():
    sc = validate_scenario({
        "rounds": 2, "client": {"local_steps": 3},
        "privacy": {"mode": "client", "epsilon": 8.0, "delta": 1e-3, "noise_placement": "distributed",
                    "compare_without_dp": False},
        "secure_aggregation": {"enabled": True, "clip_range": 4.0},
    })
    r = simulate(sc)
    assert r.extra["privacy"]["mode"] == "client" and len(r.history) == 2
    assert all(0 < e <= 8.0 for e in r.extra["privacy"]["final_epsilon"].values())


@pytest.mark.parametrize("raw,needle", [
    ({"aggregation": {"name": "krumm"}}, "create_aggregator must be one of"),
    ({"aggregation": {"name": "krum", "params": {"f": -1}}}, "'f' parameter of Krum"),
    ({"aggregation": {"pre": [{"f": 1}]}}, "needs a 'name' key"),
    ({"screening": {"name": "robustt"}}, "create_screener must be one of"),
    ({"privacy": {"mode": "everything"}}, "'privacy.mode' key must be one of"),
    ({"secure_aggregation": {"clip_range": -1}}, "'secure_aggregation.clip_range' key"),
])
def test_defense_typos_are_refused_at_load_time(raw, needle):
    with pytest.raises(ConfigError, match=needle.replace("(", r"\(").replace("[", r"\[")):
        validate_scenario(raw)


def test_network_server_builds_dp_and_secagg_stages():
    """``fedshield server`` now runs DP and SecAgg+ (tests/net/test_defenses_network.py runs them end to
    end); only the combination that would silently drop a defense is refused: stream_aggregate replaces
    the collector (SecAgg+) and hands DP-FedAvg one mean instead of per-site updates."""
    from types import SimpleNamespace

    from fedshield.net.server import _stream, build_stages
    from fedshield.server.secure_collect import SecureCollector

    model = object
    stages = build_stages(validate_scenario({"secure_aggregation": {"enabled": True}}), transport=None,
                          model_factory=model)
    assert isinstance(stages.collector, SecureCollector)
    build_stages(validate_scenario({"privacy": {"mode": "sample"}}), transport=None, model_factory=model)
    for raw in ({"privacy": {"mode": "client"}}, {"secure_aggregation": {"enabled": True}}):
        with pytest.raises(ConfigError, match="stream_aggregate = false"):
            _stream(validate_scenario(raw), SimpleNamespace(num_params=3), stages)


def test_ckks_from_the_scenario_matches_plain_fedavg():
    pytest.importorskip("tenseal")
    plain = validate_scenario({"rounds": 2, "client": {"local_steps": 3}})
    he = validate_scenario({"rounds": 2, "client": {"local_steps": 3},
                            "secure_aggregation": {"enabled": True, "protocol": "ckks", "clip_range": 4.0}})
    a, b = simulate(plain), simulate(he)
    np.testing.assert_allclose(a.final_parameters, b.final_parameters, atol=1e-4)
    sizes = b.extra["secure_aggregation"]["last_round_ciphertext_bytes_per_site"]
    assert set(sizes) == {f"site-{i}" for i in range(5)} and min(sizes.values()) > 4 * 31


def test_ckks_is_refused_where_it_cannot_be_kept_sound():
    with pytest.raises(ConfigError, match="bucket_size applies to protocol 'secagg\\+' only"):
        validate_scenario({"secure_aggregation": {"enabled": True, "protocol": "ckks", "bucket_size": 3}})
    from fedshield.net.server import build_stages

    sc = validate_scenario({"secure_aggregation": {"enabled": True, "protocol": "ckks"}})
    with pytest.raises(ConfigError, match="needs the consortium's public CKKS key"):  # never a key of its own
        build_stages(sc, transport=None, model_factory=None)
