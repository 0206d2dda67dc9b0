"""Signed tree heads travel with each round's instructions, so every site can catch a fork.

Why in the fit instructions: a site hears from the coordinator when it is asked
to train, and that is the moment it must decide whether to keep trusting it. The
coordinator attaches its latest signed head and consistency proofs from every
head it issued before; each site checks the proof from the head *it* last saw
(``TreeHeadWitness``) and refuses to train on a log that is not an append-only
extension of it. A coordinator that rewrites or forks history is caught at the
next round by every site that took part before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fedshield.errors import VerificationError
from fedshield.ledger.heads import SignedTreeHead
from fedshield.ledger.witness import TreeHeadWitness

__all__ = ["HEAD_KEY", "PROOFS_KEY", "HeadPublisher", "WitnessedSite"]

HEAD_KEY = "audit_head"
PROOFS_KEY = "audit_consistency"  # {str(old_size): [hex node, ...]}


class HeadPublisher:
    """A ``fit_config`` (dict or callable) plus the latest head and its consistency proofs.

    Proofs go from every earlier signed head to the latest one (O(heads x log n)
    hashes per round). The head sizes come from the ledger itself, so the
    publisher keeps no state: a coordinator resumed from a checkpoint serves the
    same proofs, and a site that skipped rounds still finds the one it needs.
    """

    def __init__(self, sink: Any, base: dict[str, Any] | Callable[[int], dict[str, Any]]):
        self.sink, self.base = sink, base

    def __call__(self, round_num: int) -> dict[str, Any]:
        cfg = dict(self.base(round_num) if callable(self.base) else self.base)
        head = self.sink.latest_head()
        if head is None:
            return cfg
        sizes = sorted(set(self.sink.head_sizes()) - {0, head.tree_size})
        cfg[HEAD_KEY] = head.to_dict()
        cfg[PROOFS_KEY] = {
            str(size): [node.hex() for node in self.sink.consistency_proof(size, new_size=head.tree_size)]
            for size in sizes if size < head.tree_size
        }
        return cfg


class WitnessedSite:
    """Wraps a site (or a SecAgg role's site): check the coordinator's head, then train.

    Fails closed: a missing head after one was seen, a missing proof, a bad
    signature or a fork raises ``VerificationError``, which the transport turns
    into this site's refusal for the round (recorded with its reason).
    """

    def __init__(self, site: Any, witness: TreeHeadWitness):
        self.site, self.witness = site, witness

    def _check(self, ins: Any) -> None:
        raw = ins.config.get(HEAD_KEY)
        if raw is None:
            seen = "" if self.witness.last is None else (
                f" after having sent one of size {self.witness.last.tree_size} (an audit log cannot disappear)")
            raise VerificationError(
                f"Site {self.site.site_id!r} refuses round {ins.round_num}: the coordinator sent no signed tree "
                f"head{seen}. This site witnesses the audit ledger; the coordinator must run with it on.")
        head = SignedTreeHead.from_dict(raw)
        old = self.witness.needs_proof_from
        proof: list[bytes] = []
        if old is not None and 0 < old < head.tree_size:
            nodes = ins.config.get(PROOFS_KEY, {}).get(str(old))
            if nodes is None:
                raise VerificationError(
                    f"Site {self.site.site_id!r} refuses round {ins.round_num}: no consistency proof from the "
                    f"tree size {old} it last saw to {head.tree_size}; the coordinator must send one.")
            proof = [bytes.fromhex(n) for n in nodes]
        self.witness.observe(head, proof=proof)

    def fit(self, ins: Any) -> Any:
        self._check(ins)
        return self.site.fit(ins)

    def train(self, ins: Any) -> Any:  # the SecAgg role trains through this
        self._check(ins)
        return self.site.train(ins)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.site, name)
