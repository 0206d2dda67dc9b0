"""A CKKS round inside the real engine equals the plain FedAvg round (up to CKKS error)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tenseal")

from fedshield.config import Scenario  # noqa: E402
from fedshield.errors import ProtocolError  # noqa: E402
from fedshield.he import KeyOwner  # noqa: E402
from fedshield.he.collect import HeBegin, HeCollector, HeSiteRole  # noqa: E402
from fedshield.he.ckks import EncryptedUpdate  # noqa: E402
from fedshield.messages import SiteFailure  # noqa: E402
from fedshield.server.engine import run_round  # noqa: E402
from fedshield.simulation import build_federation  # noqa: E402

SCENARIO = Scenario.model_validate(
    {"rounds": 1, "data": {"dataset": "breast-cancer", "num_sites": 4}, "client": {"local_steps": 3}}
)


class Recorder:
    def __init__(self, inner, drop=()):
        self.inner, self.drop, self.sent, self.replies = inner, set(drop), [], []

    def site_ids(self):
        return self.inner.site_ids()

    def fit(self, site_ids, ins):
        raise AssertionError("a CKKS round must not ask sites for plaintext updates")

    def evaluate(self, site_ids, ins):
        return self.inner.evaluate(site_ids, ins)

    def exchange(self, messages, *, round_num):
        self.sent.extend(messages.values())
        kept = {s: m for s, m in messages.items() if s not in self.drop}
        out = {s: SiteFailure(s, round_num, "simulated dropout") for s in self.drop if s in messages}
        out.update(self.inner.exchange(kept, round_num=round_num))
        self.replies.extend(out.values())
        return out


def _federation(drop=()):
    fed = build_federation(SCENARIO, site_wrapper=lambda s, i: HeSiteRole(s),
                           transport_wrapper=lambda t: Recorder(t, drop))
    fed.stages.evaluator = None
    fed.stages.collector = HeCollector(key_owner=KeyOwner(), clip_range=10.0)
    return fed


def test_ckks_round_equals_plain_fedavg_and_server_sees_only_ciphertexts():
    import tenseal as ts

    plain = build_federation(SCENARIO)
    plain.stages.evaluator = None
    run_round(plain.state, plain.stages, plain.transport)
    fed = _federation()
    record = run_round(fed.state, fed.stages, fed.transport)
    assert np.abs(plain.state.parameters - fed.state.parameters).max() < 1e-6
    assert sorted(record.participants) == sorted(fed.transport.site_ids())
    assert all(isinstance(r, EncryptedUpdate) for r in fed.transport.replies)
    for msg in fed.transport.sent:  # what the server distributes carries no secret key
        assert isinstance(msg, HeBegin) and not ts.context_from(msg.public_context).has_secret_key()


def test_dropout_leaves_the_others_sum_and_too_few_fails_closed():
    fed = _federation(drop={"site-1"})
    record = run_round(fed.state, fed.stages, fed.transport)
    assert "site-1" in record.failures and "site-1" not in record.participants
    fed = _federation(drop={"site-0", "site-1", "site-2"})
    with pytest.raises(ProtocolError, match="will not decrypt"):
        run_round(fed.state, fed.stages, fed.transport)
