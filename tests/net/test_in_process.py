"""Server and sites in this process (real mTLS on loopback, shared imports so
it is fast): a site dying mid-round while the quorum holds, and the
stream-aggregated mean through the engine's collector hook."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from fedshield.net.client import SiteRunner, build_site
from fedshield.net.config import load_server_config, load_site_config
from fedshield.net.server import serve

from .conftest import HEART_SITES, make_consortium
from .deploy import scenario_file, server_file, site_file

pytestmark = pytest.mark.network


class _DiesInRound:
    """Wraps a Site: in round ``k`` the process 'dies' — its connection drops
    and it never answers (what SIGKILL looks like to the server)."""

    def __init__(self, site, runner_box, k, release):
        self._site, self._box, self._k, self._release = site, runner_box, k, release

    def __getattr__(self, name):
        return getattr(self._site, name)

    def fit(self, ins):
        if ins.round_num >= self._k:
            self._box["runner"].channel.close()
            self._release.wait(60)
            raise SystemExit  # ends this site's thread only
        return self._site.fit(ins)


def _quiet(fn):
    try:
        fn()
    except BaseException:  # noqa: BLE001 - a dying site's thread ends here
        pass


def _run(tmp_path, data_dir, *, rounds, victim=None, **server_opts):
    con = make_consortium(tmp_path / "pki")
    sc_path = scenario_file(tmp_path, data_dir, rounds=rounds, local_steps=5)
    cfg = load_server_config(server_file(tmp_path, con, sc_path, **server_opts))
    port: dict = {}
    got_port, release, result = threading.Event(), threading.Event(), {}

    def run_server():
        result["run"] = serve(cfg, on_port=lambda p: (port.update(port=p), got_port.set()))

    st = threading.Thread(target=run_server, daemon=True)
    st.start()
    assert got_port.wait(60)
    threads = []
    for s in HEART_SITES:
        scfg = load_site_config(site_file(tmp_path, con, sc_path, s, port["port"], give_up_s=30))
        site, sc, run_id = build_site(scfg)
        box: dict = {}
        if s == victim:
            site = _DiesInRound(site, box, 2, release)
        box["runner"] = SiteRunner(scfg, site, sc, run_id)
        t = threading.Thread(target=_quiet, args=(box["runner"].run,), daemon=True)
        t.start()
        threads.append(t)
    st.join(120)
    release.set()
    assert not st.is_alive()
    for t in threads:
        t.join(30)
    return result["run"], sc_path


def test_site_killed_mid_round_quorum_holds(tmp_path, shared_data_dir):
    run, _ = _run(tmp_path, shared_data_dir, rounds=3, victim="va", dead_after_s=3, round_timeout_s=30)
    history = run.history
    assert [h["round_num"] for h in history] == [1, 2, 3] and run.stopped_early is None
    assert history[0]["participants"] == HEART_SITES
    for h in history[1:]:
        assert h["participants"] == HEART_SITES[:3]
        assert "va" in h["failures"] and "silent" in h["failures"]["va"]


def test_stream_aggregated_mean_matches_simulation(tmp_path, shared_data_dir):
    from fedshield.config import load_scenario
    from fedshield.simulation import simulate

    run, sc_path = _run(tmp_path, shared_data_dir, rounds=2, stream_aggregate=True)
    assert [h["participants"] for h in run.history] == [HEART_SITES, HEART_SITES]
    assert sorted(run.history[-1]["evaluation"]["per_site"]) == sorted(HEART_SITES)
    final = np.load(tmp_path / "state" / "final_parameters.npy")
    sim = simulate(load_scenario(sc_path))
    # float64 running sum vs the aggregator's own arithmetic: equal to rounding
    assert np.allclose(final, sim.final_parameters, atol=1e-6)


def test_sites_refuse_a_coordinator_that_asks_for_a_batch_of_one(tmp_path, shared_data_dir, monkeypatch, caplog):
    """A curious coordinator edits the round's instructions to get single patients' gradients:
    every site declines the task (and stays in the run), so no update ever leaves a hospital."""
    import logging

    import fedshield.net.server as server_mod

    honest = server_mod.build_stages

    def curious(*args, **kwargs):
        stages = honest(*args, **kwargs)
        stages.fit_config = {"batch_size": 1, "local_steps": 1}
        return stages

    monkeypatch.setattr(server_mod, "build_stages", curious)
    caplog.set_level(logging.WARNING, logger="fedshield.net.client")
    run, _ = _run(tmp_path, shared_data_dir, rounds=2, dead_after_s=3, round_timeout_s=10)
    declined = [r.getMessage() for r in caplog.records if "declined fit task" in r.getMessage()]
    for site in HEART_SITES:
        assert any(f"site {site!r}" in m and "batch_size=1" in m and "ProtocolError" in m for m in declined)
    assert run.history == [] and "0 site(s) answered" in run.stopped_early
