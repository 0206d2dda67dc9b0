"""One server and four site processes train Fed-Heart-Disease over mTLS and
reach exactly the in-process simulation's model and metrics — also when the
server is killed mid-round (after counting some updates) and restarted."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fedshield.config import load_scenario
from fedshield.server.events import array_sha256
from fedshield.simulation import simulate

from .conftest import HEART_SITES, make_consortium
from .deploy import run_deployment, scenario_file, server_file, site_file, start_server, start_site, stop_all

pytestmark = [pytest.mark.network, pytest.mark.slow]


def _assert_same_as_simulation(state_dir, sc_path, rounds):
    net = json.loads((state_dir / "metrics.json").read_text())["history"]
    sim = simulate(load_scenario(sc_path)).history
    assert len(net) == len(sim) == rounds
    for a, b in zip(net, sim):
        assert a["model_sha256"] == b.model_sha256
        assert a["participants"] == b.participants == HEART_SITES
        assert not a["failures"]
        assert a["evaluation"]["pooled"] == pytest.approx(b.evaluation["pooled"])
        for site in HEART_SITES:
            assert a["evaluation"]["per_site"][site] == pytest.approx(b.evaluation["per_site"][site])
    assert array_sha256(np.load(state_dir / "final_parameters.npy")) == sim[-1].model_sha256


def test_network_run_matches_simulation(tmp_path, shared_data_dir):
    sc_path = scenario_file(tmp_path, shared_data_dir, rounds=2)
    run_deployment(tmp_path, make_consortium(tmp_path / "pki"), sc_path, timeout_s=150)
    _assert_same_as_simulation(tmp_path / "state", sc_path, 2)


def test_server_killed_mid_round_resumes_without_loss_or_double_count(tmp_path, shared_data_dir):
    con = make_consortium(tmp_path / "pki")
    sc_path = scenario_file(tmp_path, shared_data_dir, rounds=3)
    cfg = server_file(tmp_path, con, sc_path)
    log = tmp_path / "server.log"
    # the drill kills the server right after it journaled 2 of round 2's 4 updates, before acknowledging them
    server, port = start_server(cfg, log, FEDSHIELD_FAULT_CRASH_AFTER="2:2")
    procs = [server]
    try:
        for s in HEART_SITES:
            procs.append(start_site(site_file(tmp_path, con, sc_path, s, port), tmp_path / f"{s}.log"))
        assert server.wait(timeout=150) == 137, log.read_text()[-3000:]
        assert len(list((tmp_path / "state" / "journal").glob("r2-*.json"))) == 2
        cfg = server_file(tmp_path, con, sc_path, port=port)
        server, _ = start_server(cfg, log)
        procs.append(server)
        assert server.wait(timeout=120) == 0, log.read_text()[-3000:]
        for p in procs[1:-1]:
            assert p.wait(timeout=30) == 0
    finally:
        stop_all(procs)
    assert "resumed run" in log.read_text()
    _assert_same_as_simulation(tmp_path / "state", sc_path, 3)
