"""DP and SecAgg+ over the network: the same round engine, the same stages and
the same site wiring as ``fedshield simulate``, with gRPC in between.

Fast tests check the stage codec and the Join-time privacy check; the runs use
a real server and real sites on loopback mTLS (threads in this process, as in
test_in_process, or separate processes for the slow end-to-end run)."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from fedshield.config import load_scenario, validate_scenario
from fedshield.errors import ProtocolError, VerificationError
from fedshield.net.client import SiteRunner, build_site, site_info
from fedshield.net.codec import STAGE_REPLIES, STAGE_REQUESTS, decode_stage, encode_stage
from fedshield.net.config import load_server_config, load_site_config
from fedshield.net.server import NetworkPrivacy, serve
from fedshield.simulation import build_federation, run_federation, simulate

from .conftest import HEART_SITES, make_consortium
from .deploy import run_deployment, scenario_file, server_file, site_file

SECAGG = '\n[secure_aggregation]\nenabled = true\nclip_range = 0.5\n'


def _scenario(tmp_path, data_dir, extra: str, *, rounds: int, local_steps: int = 5):
    p = scenario_file(tmp_path, data_dir, rounds=rounds, local_steps=local_steps)
    p.write_text(p.read_text() + extra)
    return p


# --- the stage codec ------------------------------------------------------------------


class _CodecTransport:
    """Every stage message and reply goes through the wire encoding, in both directions."""

    def __init__(self, inner):
        self.inner, self.seen = inner, set()

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def exchange(self, messages, *, round_num):
        wired = {}
        for sid, msg in messages.items():
            self.seen.add(type(msg).__name__)
            wired[sid] = decode_stage(encode_stage(msg), allowed=STAGE_REQUESTS)
        out = {}
        for sid, reply in self.inner.exchange(wired, round_num=round_num).items():
            self.seen.add(type(reply).__name__)
            out[sid] = decode_stage(encode_stage(reply), allowed=STAGE_REPLIES)
        return out


def test_stage_codec_round_trips_a_secure_round(shared_data_dir):
    raw = {"seed": 3, "rounds": 2, "data": {"dataset": "heart-disease", "data_dir": str(shared_data_dir)},
           "client": {"local_steps": 3, "batch_size": 8}, "secure_aggregation": {"enabled": True}}
    wrapped = {}
    fed = build_federation(validate_scenario(raw),
                           transport_wrapper=lambda t: wrapped.setdefault("t", _CodecTransport(t)))
    via_codec = run_federation(fed)
    plain = simulate(validate_scenario(raw))
    assert {"SecAggBegin", "KeyRoster", "ShareInbox", "UnmaskRequest", "KeyAdvert", "ShareBundle", "MaskedInput",
            "UnmaskShares"} <= wrapped["t"].seen
    assert via_codec.stopped_early is None and len(via_codec.history) == 2
    np.testing.assert_allclose(via_codec.final_parameters, plain.final_parameters, atol=1e-4)


def test_stage_codec_refuses_what_it_should_not_rebuild():
    from fedshield.secagg.messages import KeyAdvert, MaskedInput

    advert = encode_stage(KeyAdvert(client_id=1, cipher_public_key=b"a" * 32, mask_public_key=b"b" * 32))
    assert decode_stage(advert, allowed=STAGE_REPLIES).client_id == 1
    with pytest.raises(VerificationError, match="type is not one of"):  # a reply where a request is due
        decode_stage(advert, allowed=STAGE_REQUESTS)
    with pytest.raises(VerificationError, match="no stage header"):
        decode_stage(b"\x80\x04pickle", allowed=STAGE_REPLIES)
    with pytest.raises(VerificationError, match="outside the message"):
        decode_stage(advert[:-10], allowed=STAGE_REPLIES)
    forged = advert.replace(b'"KeyAdvert"', b'"Popen____"')
    with pytest.raises(VerificationError):
        decode_stage(forged, allowed=STAGE_REPLIES | {"Popen____"})
    masked = encode_stage(MaskedInput(client_id=0, masked=np.arange(5, dtype=np.uint32)))
    assert decode_stage(masked, allowed=STAGE_REPLIES).masked.tolist() == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="cannot be sent"):
        encode_stage(object())


# --- the Join-time privacy check ---------------------------------------------------------


def test_server_refuses_a_site_whose_dp_differs_from_the_plan(tmp_path, shared_data_dir):
    con = make_consortium(tmp_path / "pki", sites=["cleveland"])
    sc_path = _scenario(tmp_path, shared_data_dir, '\n[privacy]\nmode = "sample"\nepsilon = 2.0\n', rounds=2)
    site, sc, _ = build_site(load_site_config(site_file(tmp_path, con, sc_path, "cleveland", 1)))
    info = json.loads(json.dumps(site_info(site)))  # as it travels
    assert info["privacy"]["mode"] == "sample" and info["num_records"] == site.data.num_train
    net = NetworkPrivacy(sc, HEART_SITES, _factory(sc))
    net.check_join("cleveland", info)  # the same scenario: admitted
    with pytest.raises(ProtocolError, match="record count"):
        net.check_join("cleveland", {"privacy": info["privacy"]})
    with pytest.raises(ProtocolError, match="same scenario"):
        net.check_join("cleveland", {**info, "num_records": info["num_records"] + 7})
    with pytest.raises(ProtocolError, match="same scenario"):
        net.check_join("cleveland", {**info, "privacy": None})  # a site that would train without DP-SGD
    off = NetworkPrivacy(sc.model_copy(update={"privacy": sc.privacy.model_copy(update={"mode": "off"})}),
                         HEART_SITES, _factory(sc))
    with pytest.raises(ProtocolError, match="same scenario"):
        off.check_join("cleveland", info)


def _factory(sc):
    from functools import partial

    from fedshield.models import create_model

    return partial(create_model, sc.model.name, input_shape=(13,), seed=sc.seed, **sc.model.params)


# --- runs: server and sites on loopback mTLS (threads) ---------------------------------------


def _run(tmp_path, sc_path, *, server_toml: str = "", site_toml=lambda site: "", con=None, **server_opts):
    con = con or make_consortium(tmp_path / "pki")
    sf = server_file(tmp_path, con, sc_path, **server_opts)
    sf.write_text(sf.read_text() + server_toml)
    cfg = load_server_config(sf)
    got_port, result, port = threading.Event(), {}, {}

    def run_server():
        result["run"] = serve(cfg, on_port=lambda p: (port.update(port=p), got_port.set()))

    st = threading.Thread(target=run_server, daemon=True)
    st.start()
    assert got_port.wait(60)
    threads, runners = [], []
    for s in HEART_SITES:
        path = site_file(tmp_path, con, sc_path, s, port["port"], give_up_s=30)
        path.write_text(path.read_text() + site_toml(s))
        scfg = load_site_config(path)
        runner = SiteRunner(scfg)
        runners.append(runner)
        t = threading.Thread(target=runner.run, daemon=True)
        t.start()
        threads.append(t)
    st.join(240)
    assert not st.is_alive()
    for t in threads:
        t.join(30)
    for r in runners:
        r.close()
    metrics = json.loads((tmp_path / "state" / "metrics.json").read_text())
    return result["run"], metrics, np.load(tmp_path / "state" / "final_parameters.npy")


@pytest.mark.network
def test_secure_aggregation_over_grpc_matches_simulation(tmp_path, shared_data_dir):
    sc_path = _scenario(tmp_path, shared_data_dir, SECAGG, rounds=2)
    run, metrics, final = _run(tmp_path, sc_path)
    sim = simulate(load_scenario(sc_path))
    assert run.stopped_early is None and [h["participants"] for h in run.history] == [HEART_SITES] * 2
    assert all(not h["failures"] for h in run.history)
    buckets = metrics["secure_aggregation"]["last_round_buckets"]
    assert [b["survivors"] for b in buckets] == [HEART_SITES]  # the server saw one sum, no site's update
    np.testing.assert_allclose(final, sim.final_parameters, atol=1e-4)


CKKS = '\n[secure_aggregation]\nenabled = true\nprotocol = "ckks"\nclip_range = 0.5\nmin_contributors = 3\n'


def _ckks_setup(tmp_path, data_dir):
    """A consortium, keys from `fedshield he-keys` (cleveland is the key steward; the coordinator only
    ever gets the public half), a CKKS scenario, and the [he] sections for server.toml and site.toml."""
    from fedshield.cli.main import main

    pytest.importorskip("tenseal")
    con = make_consortium(tmp_path / "pki")
    issued, keys = con.dir / "issued", tmp_path / "ckks-keys"
    assert main(["he-keys", "--ca-cert", str(con.dir / "ca.crt"), "--cert", str(issued / "cleveland.crt"),
                 "--key", str(issued / "cleveland.key"), "--out", str(keys),
                 *[a for s in HEART_SITES[1:] for a in ("--site-cert", str(issued / f"{s}.crt"))]]) == 0
    return (con, _scenario(tmp_path, data_dir, CKKS, rounds=2), f'[he]\npublic_key = "{keys / "public.ckks.json"}"\n',
            lambda s: f'[he]\nsealed_key = "{keys / f"{s}.ckks-key.json"}"\n')


@pytest.mark.network
def test_ckks_over_grpc_with_keys_sealed_to_the_sites_matches_simulation(tmp_path, shared_data_dir):
    con, sc_path, server_toml, site_toml = _ckks_setup(tmp_path, shared_data_dir)
    run, metrics, final = _run(tmp_path, sc_path, con=con, server_toml=server_toml, site_toml=site_toml)
    sim = simulate(load_scenario(sc_path))
    assert run.stopped_early is None and [h["participants"] for h in run.history] == [HEART_SITES] * 2
    section = metrics["secure_aggregation"]
    assert section["last_round_decrypted_by"] in HEART_SITES
    assert set(section["last_round_ciphertext_bytes_per_site"]) == set(HEART_SITES)
    np.testing.assert_allclose(final, sim.final_parameters, atol=1e-5)  # the same round, up to CKKS error


@pytest.mark.network
@pytest.mark.slow
def test_ckks_deployment_of_processes_with_keys_from_the_cli(tmp_path, shared_data_dir):
    con, sc_path, server_toml, site_toml = _ckks_setup(tmp_path, shared_data_dir)
    run_deployment(tmp_path, con, sc_path, timeout_s=200, server_toml=server_toml, site_toml=site_toml)
    metrics = json.loads((tmp_path / "state" / "metrics.json").read_text())
    assert metrics["stopped_early"] is None and len(metrics["history"]) == 2
    assert all(h["participants"] == HEART_SITES for h in metrics["history"])
    np.testing.assert_allclose(np.load(tmp_path / "state" / "final_parameters.npy"),
                               simulate(load_scenario(sc_path)).final_parameters, atol=1e-5)


@pytest.mark.network
def test_ckks_deployment_without_key_files_is_refused_at_load(tmp_path, shared_data_dir):
    from fedshield.errors import ConfigError
    from fedshield.net.client import open_ckks_key
    from fedshield.net.server import load_ckks_public

    con = make_consortium(tmp_path / "pki", sites=["cleveland"])
    sc_path = _scenario(tmp_path, shared_data_dir, '\n[secure_aggregation]\nenabled = true\nprotocol = "ckks"\n',
                        rounds=1)
    sc = load_scenario(sc_path)
    with pytest.raises(ConfigError, match=r"\[he\] public_key"):
        load_ckks_public(load_server_config(server_file(tmp_path, con, sc_path)), sc)
    with pytest.raises(ConfigError, match=r"\[he\] sealed_key"):
        open_ckks_key(load_site_config(site_file(tmp_path, con, sc_path, "cleveland", 1)), sc)
    sf = server_file(tmp_path, con, sc_path)
    sf.write_text(sf.read_text() + f'[he]\npublic_key = "{tmp_path / "missing.json"}"\n')
    with pytest.raises(ConfigError, match="does not exist"):
        load_ckks_public(load_server_config(sf), sc)


@pytest.mark.network
def test_distributed_client_dp_with_secagg_over_grpc_matches_simulation(tmp_path, shared_data_dir):
    extra = SECAGG + '\n[privacy]\nmode = "client"\nepsilon = 8.0\ndelta = 0.01\nnoise_placement = "distributed"\n'
    sc_path = _scenario(tmp_path, shared_data_dir, extra, rounds=2)
    run, metrics, final = _run(tmp_path, sc_path)
    sim = simulate(load_scenario(sc_path))
    assert run.stopped_early is None and len(run.history) == 2
    assert metrics["privacy"]["final_epsilon"] == sim.extra["privacy"]["final_epsilon"]
    assert metrics["privacy"]["noise"]["placement"] == "distributed"
    np.testing.assert_allclose(final, sim.final_parameters, atol=1e-4)  # seeded (non-secure) noise: same draws


@pytest.mark.network
def test_client_dp_budget_refusal_ends_the_networked_run_like_simulation(tmp_path, shared_data_dir):
    # the budget pays for fewer than the 4 rounds: the gate refuses every site and the run stops cleanly
    extra = ('\n[privacy]\nmode = "client"\nepsilon = 3.0\ndelta = 0.01\nnoise_multiplier = 1.2\n'
             'allow_budget_exhaustion = true\n')
    sc_path = _scenario(tmp_path, shared_data_dir, extra, rounds=4)
    sim = simulate(load_scenario(sc_path))
    assert sim.stopped_early is not None and 0 < len(sim.history) < 4, "the scenario must exhaust the budget"
    run, metrics, final = _run(tmp_path, sc_path)
    assert run.stopped_early is not None and "privacy budget" in run.stopped_early
    assert len(run.history) == len(sim.history)
    assert metrics["privacy"]["final_epsilon"] == sim.extra["privacy"]["final_epsilon"]
    assert metrics["privacy"]["exhausted"] == sim.extra["privacy"]["exhausted"]
    np.testing.assert_allclose(final, sim.final_parameters, atol=1e-6)


# --- end to end: one server and four site processes --------------------------------------------


@pytest.mark.network
@pytest.mark.slow
def test_sample_dp_network_run_reports_the_simulations_epsilon(tmp_path, shared_data_dir):
    sc_path = _scenario(tmp_path, shared_data_dir, '\n[privacy]\nmode = "sample"\nepsilon = 2.0\n', rounds=2,
                        local_steps=10)
    run_deployment(tmp_path, make_consortium(tmp_path / "pki"), sc_path, timeout_s=200)
    metrics = json.loads((tmp_path / "state" / "metrics.json").read_text())
    sim = simulate(load_scenario(sc_path))
    assert metrics["privacy"]["final_epsilon"] == sim.extra["privacy"]["final_epsilon"]
    assert metrics["privacy"]["noise"] == sim.extra["privacy"]["noise"]  # same calibration per site
    net = metrics["history"]
    assert len(net) == len(sim.history) == 2
    for a, b in zip(net, sim.history):
        assert a["participants"] == b.participants == HEART_SITES
        assert a["privacy"]["epsilon"] == b.privacy["epsilon"]
        assert a["model_sha256"] == b.model_sha256  # seeded DP-SGD: the very same model
        assert a["evaluation"]["pooled"] == pytest.approx(b.evaluation["pooled"])


@pytest.mark.network
def test_sample_dp_budget_gate_over_grpc_refuses_like_simulation(tmp_path, shared_data_dir):
    # switzerland (the smallest site) can pay for one round only; the server's gate mirrors its
    # DP-SGD spend from its reported record count and refuses it from round 2, the others go on
    extra = '\n[privacy]\nmode = "sample"\nepsilon = 1.2\nnoise_multiplier = 1.8\nallow_budget_exhaustion = true\n'
    sc_path = _scenario(tmp_path, shared_data_dir, extra, rounds=3)
    sim = simulate(load_scenario(sc_path))
    assert [len(h.participants) for h in sim.history] == [4, 3, 3], "the scenario must exhaust one site"
    run, metrics, final = _run(tmp_path, sc_path)
    assert run.stopped_early is None
    for a, b in zip(run.history, sim.history, strict=True):
        assert a["participants"] == b.participants and sorted(a["refused"]) == sorted(b.refused)
        assert a["privacy"]["epsilon"] == b.privacy["epsilon"]
        # (no model comparison here: these sites are threads of one process, and DP-SGD's Poisson
        # sampling seeds torch's process-wide RNG; the process-per-site run above compares models)
    assert metrics["privacy"]["exhausted"] == sim.extra["privacy"]["exhausted"] == ["switzerland"]


@pytest.mark.network
def test_sites_witness_the_coordinators_audit_log_over_grpc(tmp_path, shared_data_dir):
    from fedshield.ledger import LedgerStore, generate_signing_key
    from fedshield.ledger.heads import SignedTreeHead

    key = generate_signing_key(tmp_path / "ledger.key")
    pub = tmp_path / "ledger.pub"
    from cryptography.hazmat.primitives import serialization

    pub.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo))
    sc_path = _scenario(tmp_path, shared_data_dir, "", rounds=3)
    run, _, _ = _run(
        tmp_path, sc_path,
        server_toml=f'[ledger]\npath = "{tmp_path / "ledger.sqlite"}"\nsigning_key = "{tmp_path / "ledger.key"}"\n',
        site_toml=lambda s: f'[audit]\ncoordinator_key = "{pub}"\nwitness_state = "{tmp_path / s}.witness.json"\n')
    assert run.stopped_early is None and all(not h["failures"] for h in run.history)
    with LedgerStore.open(tmp_path / "ledger.sqlite", readonly=True) as store:
        heads = [h for *_, h in store.heads()]
    for s in HEART_SITES:  # each site checked and kept the head of round 2, the last one sent with a task
        seen = SignedTreeHead.from_dict(json.loads((tmp_path / f"{s}.witness.json").read_text())["head"])
        assert seen in heads and seen.tree_size == heads[-2].tree_size
