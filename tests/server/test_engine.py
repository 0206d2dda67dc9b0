"""The round engine with scripted sites: ordering, quorum, malformed updates, events."""

import numpy as np
import pytest

from fedshield.aggregation import RobustPipeline, create_aggregator
from fedshield.errors import ProtocolError
from fedshield.messages import EvaluateRes, FitRes
from fedshield.screening import create_screener
from fedshield.server.engine import RoundStages, ServerState, run_round
from fedshield.server.events import MemorySink
from fedshield.server.optimizers import create_server_optimizer
from fedshield.server.sampling import UniformSampler
from fedshield.transport import InMemoryTransport

D = 4


class ScriptedSite:
    def __init__(self, site_id, delta, n=10, fail=False):
        self.site_id, self.delta, self.n, self.fail = site_id, np.asarray(delta, np.float32), n, fail
        self.seen = []

    def fit(self, ins):
        from fedshield.errors import TransportError

        self.seen.append(ins.round_num)
        if self.fail:
            raise TransportError("connection lost")
        return FitRes(self.site_id, ins.round_num, self.delta, self.n, {"train_loss": 0.5})

    def evaluate(self, ins):
        return EvaluateRes(self.site_id, ins.round_num, 1, {"accuracy": 1.0})


def _stages(**kw):
    base = dict(
        sampler=UniformSampler(),
        screener=create_screener("none"),
        aggregator=RobustPipeline(pre=[], aggregator=create_aggregator("mean")),
        server_optimizer=create_server_optimizer("fedavg"),
    )
    base.update(kw)
    return RoundStages(**base)


def test_weighted_mean_round_and_events():
    sites = [ScriptedSite("a", [1, 1, 1, 1], n=30), ScriptedSite("b", [-1, -1, -1, -1], n=10)]
    sink = MemorySink()
    state = ServerState("run", np.zeros(D, np.float32))
    rec = run_round(state, _stages(sinks=[sink]), InMemoryTransport(sites))
    np.testing.assert_allclose(state.parameters, [0.5] * D)  # (30*1 - 10*1) / 40
    assert rec.round_num == 1 and state.round_num == 1 and rec.participants == ["a", "b"]
    kinds = [k for k, _ in sink.events]
    assert kinds[0] == "round_start" and kinds[-1] == "round_end" and "aggregate" in kinds
    updates = [p for k, p in sink.events if k == "update"]
    assert all("update_sha256" in p and "weights" not in p for p in updates)


def test_failed_site_does_not_stop_round_while_quorum_holds():
    sites = [ScriptedSite("a", [1] * D), ScriptedSite("b", [1] * D, fail=True)]
    state = ServerState("run", np.zeros(D, np.float32))
    rec = run_round(state, _stages(min_fit_sites=1), InMemoryTransport(sites))
    assert rec.failures.keys() == {"b"} and "connection lost" in rec.failures["b"]
    with pytest.raises(ProtocolError, match="fewer than min_fit_sites=2"):
        run_round(state, _stages(min_fit_sites=2), InMemoryTransport(sites))


def test_wrong_shape_update_is_rejected_with_reason():
    sites = [ScriptedSite("a", [1] * D), ScriptedSite("bad", [1] * (D + 1))]
    state = ServerState("run", np.zeros(D, np.float32))
    rec = run_round(state, _stages(), InMemoryTransport(sites))
    bad = [v for v in rec.verdicts if v["site_id"] == "bad"][0]
    assert bad["decision"] == "rejected" and "wrong shape" in bad["reason"]
    np.testing.assert_allclose(state.parameters, [1] * D)


def test_privacy_gate_refusal_is_recorded():
    class Gate:
        def admit(self, ids, rnd):
            return [i for i in ids if i != "b"], {"b": "budget exhausted"}

        def account(self, participants, rnd):
            return {"epsilon": {p: 0.1 for p in participants}}

    sites = [ScriptedSite("a", [1] * D), ScriptedSite("b", [1] * D)]
    state = ServerState("run", np.zeros(D, np.float32))
    rec = run_round(state, _stages(privacy=Gate()), InMemoryTransport(sites))
    assert rec.refused == {"b": "budget exhausted"} and sites[1].seen == []
    assert rec.privacy == {"epsilon": {"a": 0.1}}
