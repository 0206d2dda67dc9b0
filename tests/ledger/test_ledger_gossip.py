"""Heads travel with the round's instructions; sites refuse to train on a forked log."""

from __future__ import annotations

import pytest
from ledger_testkit import Clock
from test_ledger_witness import fork_of, run_round

from fedshield.errors import VerificationError
from fedshield.ledger import AuditSink, TreeHeadWitness
from fedshield.ledger.gossip import HEAD_KEY, PROOFS_KEY, HeadPublisher, WitnessedSite
from fedshield.messages import FitIns
from fedshield.transport import InMemoryTransport


class CountingSite:
    site_id = "hospital-a"

    def __init__(self):
        self.trained = 0

    def fit(self, ins):
        self.trained += 1
        return "ok"

    def train(self, ins):
        self.trained += 1
        return "ok"


def _ins(cfg, rnd=1):
    import numpy as np

    return FitIns(run_id="r", round_num=rnd, parameters=np.zeros(2, np.float32), config=cfg)


def test_honest_heads_are_accepted_round_after_round_with_partial_participation(tmp_path, key):
    site = WitnessedSite(CountingSite(), TreeHeadWitness(public_key=key.public_key()))
    with AuditSink.open(tmp_path / "l.sqlite", signing_key=key, clock=Clock()) as sink:
        pub = HeadPublisher(sink, {"learning_rate": 0.1})
        assert pub(1) == {"learning_rate": 0.1}  # no head yet: a witnessing site refuses
        with pytest.raises(VerificationError, match="sent no signed tree head. This site witnesses"):
            site.fit(_ins(pub(1)))
        for rnd in range(1, 6):
            run_round(sink, rnd)
            cfg = pub(rnd + 1)
            assert cfg["learning_rate"] == 0.1 and HEAD_KEY in cfg
            if rnd % 2:  # this site is sampled only every other round; it still finds its proof
                site.fit(_ins(cfg, rnd + 1))
                assert site.witness.last.tree_size == cfg[HEAD_KEY]["tree_size"]
    assert site.site.trained == 3


def test_a_forked_log_is_refused_and_nothing_is_trained(tmp_path, key):
    witness = TreeHeadWitness(public_key=key.public_key())
    site = WitnessedSite(CountingSite(), witness)
    honest = AuditSink.open(tmp_path / "l.sqlite", signing_key=key, clock=Clock())
    run_round(honest, 1)
    site.fit(_ins(HeadPublisher(honest, {})(2)))
    seen = witness.last
    forked = fork_of(tmp_path, honest, 5, key)  # the coordinator rewrites round 1
    run_round(forked, 1, site_prefix="clinic")
    run_round(forked, 2, site_prefix="clinic")
    cfg = HeadPublisher(forked, {})(3)
    # ... and even offers a "proof" from the size the site saw, computed on the forked log.
    cfg[PROOFS_KEY][str(seen.tree_size)] = [n.hex() for n in forked.consistency_proof(seen.tree_size)]
    with pytest.raises(VerificationError, match="Fork detected"):
        site.fit(_ins(cfg, 3))
    with pytest.raises(VerificationError, match="Fork detected"):
        site.train(_ins(cfg, 3))  # the SecAgg path checks too
    assert site.site.trained == 1 and witness.last == seen
    # Through the transport, the refusal is this site's failure for the round, with its reason.
    [failure] = InMemoryTransport([site]).fit(["hospital-a"], _ins(cfg, 3))
    assert "Fork detected" in failure.reason
    honest.close()
    forked.close()


def test_missing_head_or_proof_fails_closed(tmp_path, key):
    site = WitnessedSite(CountingSite(), TreeHeadWitness(public_key=key.public_key()))
    with AuditSink.open(tmp_path / "l.sqlite", signing_key=key, clock=Clock()) as sink:
        pub = HeadPublisher(sink, {})
        run_round(sink, 1)
        site.fit(_ins(pub(2), 2))
        with pytest.raises(VerificationError, match="sent no signed tree head"):
            site.fit(_ins({}, 3))
        run_round(sink, 2)
        cfg = pub(3)
        cfg[PROOFS_KEY] = {}
        with pytest.raises(VerificationError, match="no consistency proof from the tree size"):
            site.fit(_ins(cfg, 3))
        # A head signed by another key is refused as well.
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        stranger = TreeHeadWitness(public_key=Ed25519PrivateKey.generate().public_key())
        with pytest.raises(VerificationError):
            WitnessedSite(CountingSite(), stranger).fit(_ins(pub(3), 3))
    assert site.site.trained == 1
