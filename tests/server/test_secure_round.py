"""SecAgg+ inside the real round: FedAvg equivalence, what the server sees, dropouts, buckets."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from fedshield.client.secagg_role import SecAggBegin, SecAggRole
from fedshield.config import Scenario
from fedshield.errors import ProtocolError
from fedshield.messages import FitIns, SiteFailure
from fedshield.secagg.messages import (
    KeyAdvert,
    KeyRoster,
    MaskedInput,
    ShareBundle,
    ShareInbox,
    UnmaskRequest,
    UnmaskShares,
)
from fedshield.secagg.quantize import step_size
from fedshield.server.engine import run_round
from fedshield.server.secure_collect import SecureCollector
from fedshield.simulation import build_federation, run_federation

N_SITES = 5


def _scenario(n_sites: int = N_SITES, *, rounds: int = 2, aggregation: str = "mean") -> Scenario:
    return Scenario.model_validate({
        "rounds": rounds,
        "data": {"dataset": "breast-cancer", "num_sites": n_sites},
        "client": {"local_steps": 3},
        "aggregation": {"name": aggregation},
    })


class SpyTransport:
    """Sits between the server and the sites; records every reply that reaches the server."""

    def __init__(self, inner, drop: dict[type, set[str]] | None = None):
        self.inner = inner
        self.drop = drop or {}
        self.replies: list[tuple[str, object]] = []
        self.fit_calls = 0

    def site_ids(self):
        return self.inner.site_ids()

    def fit(self, site_ids, ins):
        self.fit_calls += 1
        return self.inner.fit(site_ids, ins)

    def evaluate(self, site_ids, ins):
        return self.inner.evaluate(site_ids, ins)

    def exchange(self, messages, *, round_num):
        kept = {}
        out = {}
        for sid, msg in messages.items():
            if sid in self.drop.get(type(msg), set()):
                out[sid] = SiteFailure(sid, round_num, "simulated dropout")
            else:
                kept[sid] = msg
        out.update(self.inner.exchange(kept, round_num=round_num))
        self.replies.extend(out.items())
        return out


def _secure_federation(n_sites=N_SITES, *, drop=None, aggregation="mean", wrap=SecAggRole, **collector):
    fed = build_federation(
        _scenario(n_sites, aggregation=aggregation),
        site_wrapper=lambda site, i: wrap(site),
        transport_wrapper=lambda t: SpyTransport(t, drop),
    )
    fed.stages.evaluator = None
    fed.stages.collector = SecureCollector(**{"clip_range": 1.0, **collector})
    return fed


def _ins(fed) -> FitIns:
    return FitIns(run_id=fed.state.run_id, round_num=1, parameters=fed.state.parameters, config={})


def _weighted_mean(fed, site_ids, *, uniform=False) -> np.ndarray:
    roles = {s.site_id: s for s in fed.sites}
    w = np.array([1.0 if uniform else roles[s].data.num_train for s in site_ids])
    x = np.stack([roles[s].last_input for s in site_ids])
    return (w[:, None] * x).sum(0) / w.sum()


def test_secure_round_equals_plain_fedavg_within_quantization_bound():
    plain = build_federation(_scenario())
    plain.stages.evaluator = None
    secure = _secure_federation()
    for _ in range(2):
        before = secure.state.parameters.copy()
        run_round(plain.state, plain.stages, plain.transport)
        record = run_round(secure.state, secure.stages, secure.transport)
        assert max(np.abs(s.last_input).max() for s in secure.sites) < 1.0  # nothing was clipped
        bound = secure.stages.collector.last_report[0].error_bound
        # parameters are float32: allow their rounding on top of the quantization bound
        tol = bound + 4 * np.finfo(np.float32).eps * (1 + np.abs(before).max())
        assert np.abs(plain.state.parameters - secure.state.parameters).max() <= tol
        assert sorted(record.participants) == sorted(secure.transport.site_ids())
        assert secure.transport.fit_calls == 0
        secure.state.parameters = plain.state.parameters.copy()  # compare each round from the same model


def test_server_only_ever_receives_masked_uint32_vectors():
    fed = _secure_federation()
    run_round(fed.state, fed.stages, fed.transport)
    d = fed.state.parameters.shape[0]
    cfg_bits = 32 - 3  # ceil(log2 5) = 3
    levels = (1 << (cfg_bits - 1)) - 1
    roles = {s.site_id: s for s in fed.sites}
    quantized = {}
    for sid, role in roles.items():
        scale = role.data.num_train / 65_535 / step_size(clip_range=1.0, bits=cfg_bits)
        q = np.floor(role.last_input * scale + 0.5).astype(np.int64)
        assert np.abs(q).max() <= levels
        quantized[sid] = np.concatenate([[role.data.num_train], q]).astype(np.int32).view(np.uint32)
    allowed = (KeyAdvert, ShareBundle, MaskedInput, UnmaskShares)
    masked = 0
    for sid, reply in fed.transport.replies:
        assert isinstance(reply, allowed), type(reply)
        for f in dataclasses.fields(reply):
            value = getattr(reply, f.name)
            if isinstance(value, np.ndarray):
                assert value.dtype == np.uint32 and isinstance(reply, MaskedInput)
        if isinstance(reply, MaskedInput):
            masked += 1
            assert reply.masked.shape == (d + 1,)
            for q in quantized.values():  # equal to no site's quantized input, not even nearly
                assert np.mean(reply.masked == q) < 0.01
                assert np.mean(np.abs(reply.masked.view(np.int32).astype(np.int64) - q.view(np.int32)) < 4) < 0.01
    assert masked == N_SITES
    row = fed.stages.collector.last_report[0]
    assert row.survivors and len(row.survivors) == N_SITES


@pytest.mark.parametrize("stage_msg", [SecAggBegin, KeyRoster, ShareInbox, UnmaskRequest])
def test_one_dropout_at_any_stage_is_recovered(stage_msg):
    fed = _secure_federation(drop={stage_msg: {"site-2"}})
    collected = fed.stages.collector.collect(fed.transport, fed.transport.site_ids(), _ins(fed))
    # a site that sent its masked input is in the sum even if it vanishes at unmask
    included = [s for s in fed.transport.site_ids() if s != "site-2" or stage_msg is UnmaskRequest]
    assert sorted(collected.participants) == sorted(included)
    bound = fed.stages.collector.last_report[0].error_bound
    assert np.abs(collected.updates[0] - _weighted_mean(fed, included)).max() <= bound + 1e-12
    if stage_msg is not UnmaskRequest:
        assert "site-2" in collected.failures


def test_below_threshold_round_fails_closed_and_run_ends_with_reason():
    fed = _secure_federation(drop={ShareInbox: {"site-0", "site-1", "site-3"}})
    with pytest.raises(ProtocolError, match="failed closed"):
        fed.stages.collector.collect(fed.transport, fed.transport.site_ids(), _ins(fed))
    before = fed.state.parameters.copy()
    result = run_federation(fed)
    assert result.history == [] and "failed closed" in result.stopped_early
    assert np.array_equal(result.final_parameters, before)


def test_buckets_give_bucket_means_and_robust_aggregator_runs_over_them():
    fed = _secure_federation(6, bucket_size=2, weighting="uniform", aggregation="median", seed=3)
    record = run_round(fed.state, fed.stages, fed.transport)
    reports = fed.stages.collector.last_report
    assert len(reports) == 3 and all(len(r.members) == 2 for r in reports)
    assert sorted(m for r in reports for m in r.members) == sorted(fed.transport.site_ids())
    assert [v["site_id"] for v in record.verdicts] == [r.label for r in reports]
    collected = fed.stages.collector.collect(fed.transport, fed.transport.site_ids(), _ins(fed))
    for row, rep in zip(collected.updates, fed.stages.collector.last_report):
        assert np.abs(row - _weighted_mean(fed, rep.members, uniform=True)).max() <= rep.error_bound + 1e-7
        for sid in rep.members:  # a 2-site mean is not either site's update
            assert np.abs(row - fed.sites[int(sid.split("-")[1])].last_input).max() > 1e-4


class NonClippingRole(SecAggRole):
    """A malicious site: adds a huge offset inside its mask and forges its weight word."""

    def handle_stage(self, msg):
        reply = super().handle_stage(msg)
        if isinstance(reply, MaskedInput):
            masked = reply.masked.copy()
            masked[1:] += np.uint32(3 << 29)  # about 3 * clip_range after decoding
            masked[0] += np.uint32(7)
            reply = MaskedInput(reply.client_id, masked)
        return reply


def test_site_that_does_not_clip_is_confined_to_its_bucket_and_the_box():
    wrap = lambda site: NonClippingRole(site) if site.site_id == "site-0" else SecAggRole(site)  # noqa: E731
    fed = _secure_federation(6, bucket_size=3, weighting="uniform", seed=1, wrap=wrap)
    collected = fed.stages.collector.collect(fed.transport, fed.transport.site_ids(), _ins(fed))
    for row, rep in zip(collected.updates, fed.stages.collector.last_report):
        assert np.abs(row).max() <= 1.0  # clamped to the box
        if "site-0" in rep.members:
            assert rep.out_of_range and rep.weight_mismatch
            assert np.abs(row - _weighted_mean(fed, rep.members, uniform=True)).max() > 0.1
        else:
            assert not rep.out_of_range and not rep.weight_mismatch
            assert np.abs(row - _weighted_mean(fed, rep.members, uniform=True)).max() <= rep.error_bound + 1e-7
    assert list(collected.weights) == [3.0, 3.0]


def test_bucket_size_one_is_the_unprotected_clipped_baseline():
    fed = _secure_federation(4, bucket_size=1, clip_range=1e-3, weighting="uniform")
    collected = fed.stages.collector.collect(fed.transport, fed.transport.site_ids(), _ins(fed))
    assert collected.updates.shape[0] == 4 and np.abs(collected.updates).max() <= 1e-3
    assert fed.transport.fit_calls == 1


def test_collector_parameters_are_validated():
    from fedshield.errors import ConfigError

    with pytest.raises(ConfigError, match="clip_range"):
        SecureCollector(clip_range=0)
    with pytest.raises(ConfigError, match="bucket_size"):
        SecureCollector(clip_range=1.0, bucket_size=0)


@pytest.mark.parametrize("protocol", ["secagg+", "ckks"])
def test_seeded_secure_simulation_repeats(protocol):
    if protocol == "ckks":
        pytest.importorskip("tenseal")
    raw = {"seed": 3, "rounds": 2, "data": {"dataset": "breast-cancer", "num_sites": 4},
           "secure_aggregation": {"enabled": True, "protocol": protocol}}
    runs = []
    for _ in range(2):
        fed = build_federation(Scenario.model_validate(raw))
        fed.stages.evaluator = None
        runs.append(run_federation(fed).final_parameters)
    if protocol == "secagg+":
        assert np.array_equal(runs[0], runs[1])  # stochastic rounding drew the same bits
    else:  # SEAL's encryption noise cannot be seeded through TenSEAL: equal up to float32 rounding
        np.testing.assert_allclose(runs[0], runs[1], rtol=0, atol=1e-6)
        return
    other = build_federation(Scenario.model_validate({**raw, "seed": 4}))
    assert other.sites[0]._random_bytes(16) != fed.sites[0]._random_bytes(16)


def test_network_site_masks_with_os_randomness(monkeypatch):
    import os

    from fedshield.simulation import build_network_site

    sc = Scenario.model_validate({"data": {"dataset": "breast-cancer", "num_sites": 3},
                                  "secure_aggregation": {"enabled": True}})
    fed = build_federation(sc)
    site = build_network_site(sc, fed.dataset, "site-0", fed.model_factory)
    assert site._random_bytes is os.urandom
