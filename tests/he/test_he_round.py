"""A CKKS round inside the real engine equals the plain FedAvg round (up to CKKS error), the
server handles public keys and ciphertexts only, and the key holders refuse what they must."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tenseal")

from fedshield.config import Scenario  # noqa: E402
from fedshield.errors import ProtocolError, SecurityError  # noqa: E402
from fedshield.he import KeyOwner  # noqa: E402
from fedshield.he.ckks import EncryptedUpdate  # noqa: E402
from fedshield.he.collect import HeBegin, HeDecrypted, HeDecryptRequest, HeSiteRole  # noqa: E402
from fedshield.messages import FitIns, SiteFailure  # noqa: E402
from fedshield.server.engine import run_round  # noqa: E402
from fedshield.simulation import build_federation  # noqa: E402

PLAIN = {"rounds": 1, "data": {"dataset": "breast-cancer", "num_sites": 4}, "client": {"local_steps": 3}}
SCENARIO = Scenario.model_validate(
    {**PLAIN, "secure_aggregation": {"enabled": True, "protocol": "ckks", "clip_range": 10.0}})


class Recorder:
    def __init__(self, inner, drop=(), refuse_decrypt=()):
        self.inner, self.drop, self.refuse = inner, set(drop), set(refuse_decrypt)
        self.sent, self.replies = [], []

    def site_ids(self):
        return self.inner.site_ids()

    def fit(self, site_ids, ins):
        raise AssertionError("a CKKS round must not ask sites for plaintext updates")

    def evaluate(self, site_ids, ins):
        return self.inner.evaluate(site_ids, ins)

    def exchange(self, messages, *, round_num):
        self.sent.extend(messages.items())
        gone = self.drop | (self.refuse if any(isinstance(m, HeDecryptRequest) for m in messages.values()) else set())
        kept = {s: m for s, m in messages.items() if s not in gone}
        out = {s: SiteFailure(s, round_num, "simulated dropout") for s in gone if s in messages}
        out.update(self.inner.exchange(kept, round_num=round_num))
        self.replies.extend(out.values())
        return out


def _federation(**kw):
    fed = build_federation(SCENARIO, transport_wrapper=lambda t: Recorder(t, **kw))
    fed.stages.evaluator = None
    return fed


def test_ckks_round_equals_plain_fedavg_and_server_sees_only_ciphertexts():
    plain = build_federation(Scenario.model_validate(PLAIN))
    plain.stages.evaluator = None
    run_round(plain.state, plain.stages, plain.transport)
    fed = _federation()
    record = run_round(fed.state, fed.stages, fed.transport)
    assert np.abs(plain.state.parameters - fed.state.parameters).max() < 1e-6
    assert sorted(record.participants) == sorted(fed.transport.site_ids())
    begins = [m for _, m in fed.transport.sent if isinstance(m, HeBegin)]
    decrypts = [(s, m) for s, m in fed.transport.sent if isinstance(m, HeDecryptRequest)]
    assert len(begins) == 4 and len(decrypts) == 1  # one key holder decrypts the one sum
    assert sorted(decrypts[0][1].contributors) == sorted(fed.transport.site_ids())
    assert sum(isinstance(r, EncryptedUpdate) for r in fed.transport.replies) == 4
    assert sum(isinstance(r, HeDecrypted) for r in fed.transport.replies) == 1
    # the server's collector holds the public context only: it cannot decrypt
    import tenseal as ts

    assert not ts.context_from(fed.stages.collector.public_key.context).has_secret_key()
    assert not any(isinstance(v, KeyOwner) for v in vars(fed.stages.collector).values())


def test_dropout_leaves_the_others_sum_and_too_few_fails_closed():
    fed = _federation(drop={"site-1"})
    record = run_round(fed.state, fed.stages, fed.transport)
    assert "site-1" in record.failures and "site-1" not in record.participants
    fed = _federation(drop={"site-0", "site-1", "site-2"})
    with pytest.raises(ProtocolError, match="will not decrypt"):
        run_round(fed.state, fed.stages, fed.transport)


def test_a_key_holder_that_drops_before_decrypting_is_replaced_by_the_next():
    fed = _federation(refuse_decrypt={"site-1"})  # round 1 asks site-1 first (rotation)
    record = run_round(fed.state, fed.stages, fed.transport)
    assert len(record.participants) == 4
    assert fed.stages.collector.last_decryptor == "site-2"
    fed = _federation(refuse_decrypt={"site-0", "site-1", "site-2", "site-3"})
    with pytest.raises(ProtocolError, match="no contributing site decrypted"):
        run_round(fed.state, fed.stages, fed.transport)


class _Data:
    num_train = 10


class _Site:
    site_id, data = "a", _Data()

    def train(self, ins):
        return np.full(5, 0.1, np.float32), {}


def _role_with_one_round():
    key = KeyOwner()
    role = HeSiteRole(_Site(), key, min_contributors=2, site_ids=["a", "b", "c"])
    ins = FitIns(run_id="r", round_num=1, parameters=np.zeros(5, np.float32), config={})
    enc = role.handle_stage(HeBegin(ins, key.key_id, key.params, 1.0))
    return key, role, enc


def test_key_holder_refuses_a_foreign_key_and_single_or_repeated_decryptions():
    key, role, enc = _role_with_one_round()
    ins = FitIns(run_id="r", round_num=2, parameters=np.zeros(5, np.float32), config={})
    with pytest.raises(SecurityError, match="consortium's CKKS key"):  # a key the coordinator made up
        role.handle_stage(HeBegin(ins, KeyOwner().key_id, key.params, 1.0))

    def ask(contributors, round_num=1, key_id=key.key_id, aggregate=enc):
        return role.handle_stage(HeDecryptRequest("r", round_num, key_id, tuple(contributors), aggregate))

    with pytest.raises(SecurityError, match="at least 2 required"):  # its own ciphertext, passed off as a sum
        ask(["a"])
    with pytest.raises(SecurityError, match="repeats a site"):
        ask(["a", "a"])
    with pytest.raises(SecurityError, match="not sites of this federation"):
        ask(["a", "mallory"])
    with pytest.raises(SecurityError, match="did not contribute"):
        ask(["a", "b"], round_num=2)
    with pytest.raises(SecurityError, match="not under the consortium's key"):
        ask(["a", "b"], key_id="0" * 64)
    out = ask(["a", "b"])  # honest: decrypts (here the "sum" is its own, which it cannot tell)
    np.testing.assert_allclose(out.mean, 0.1, atol=1e-6)
    with pytest.raises(SecurityError, match="already decrypted"):  # a second ciphertext of the same round
        ask(["b", "a"])
