"""CKKS inside the real round: a collector for ``RoundStages.collector`` and the site role.

Why one exchange instead of SecAgg+'s four: sites encrypt under a public key
and the server adds ciphertexts, so a site that drops out simply is not in the
sum; there is no recovery stage. The cost moves to bandwidth (about 32 bytes per
parameter) and to trust in the key owner, who sits on the sites' side and is
handed only the aggregate, together with the number of contributors, so that
it can refuse to decrypt fewer sites than it knows took part.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fedshield.client.secagg_role import clip_update
from fedshield.errors import ProtocolError
from fedshield.he.ckks import CkksParams, EncryptedUpdate, HeAggregator, KeyOwner, encrypt_update
from fedshield.messages import FitIns, SiteFailure
from fedshield.server.engine import Collection

__all__ = ["HeBegin", "HeSiteRole", "HeCollector"]


@dataclass(frozen=True)
class HeBegin:
    """Server -> site: the global model and the public-only CKKS context."""

    ins: FitIns
    public_context: bytes
    params: CkksParams
    clip_range: float
    clip_norm: float | None = None


class HeSiteRole:
    """Wraps a site: trains, clips, encrypts; ``fit``/``evaluate`` pass through unchanged."""

    def __init__(self, site: Any) -> None:
        self.site = site
        self.last_input: np.ndarray | None = None  # the site's own clipped update, kept on site

    @property
    def site_id(self) -> str:
        return self.site.site_id

    def fit(self, ins):
        return self.site.fit(ins)

    def evaluate(self, ins):
        return self.site.evaluate(ins)

    def __getattr__(self, name: str) -> Any:
        if name == "site":
            raise AttributeError(name)
        return getattr(self.site, name)

    def handle_stage(self, msg: object) -> EncryptedUpdate:
        if not isinstance(msg, HeBegin):
            raise ProtocolError(f"Site {self.site_id} cannot handle a {type(msg).__name__} in a CKKS round.")
        delta, _ = self.site.train(msg.ins)
        n = int(self.site.data.num_train)
        for transform in getattr(self.site, "transforms", ()):
            delta = transform(delta, round_num=msg.ins.round_num, num_examples=n)
        self.last_input = clip_update(delta, clip_norm=msg.clip_norm, clip_range=msg.clip_range)
        return encrypt_update(msg.public_context, self.last_input, weight=float(n), params=msg.params,
                              site_id=self.site_id)


@dataclass
class HeCollector:
    """Server side of a CKKS round; ``key_owner`` stands for the sites' decryption service."""

    key_owner: KeyOwner
    clip_range: float = 1.0
    clip_norm: float | None = None
    min_contributors: int = 2
    last_bytes_per_site: dict[str, int] = field(default_factory=dict, init=False)

    def describe(self) -> dict[str, Any]:
        """The metrics.json section: the protocol and what each site's ciphertext cost last round."""
        return {
            "protocol": "CKKS homomorphic encryption (TenSEAL); the server adds ciphertexts only",
            "bucket_size": None,
            "last_round_ciphertext_bytes_per_site": dict(self.last_bytes_per_site),
        }

    def collect(self, transport: Any, admitted: list[str], ins: FitIns) -> Collection:
        if not hasattr(transport, "exchange"):
            raise ProtocolError(f"CKKS aggregation needs a transport with exchange(); {type(transport).__name__} "
                                "has none.")
        public = self.key_owner.public_context()
        begin = HeBegin(ins, public, self.key_owner.params, float(self.clip_range), self.clip_norm)
        replies = transport.exchange({sid: begin for sid in admitted}, round_num=ins.round_num)
        server = HeAggregator(public)
        failures: dict[str, str] = {}
        self.last_bytes_per_site = {}
        for sid, reply in replies.items():
            if isinstance(reply, SiteFailure):
                failures[sid] = reply.reason
                continue
            if not isinstance(reply, EncryptedUpdate) or reply.site_id != sid:
                failures[sid] = "reply is not this site's encrypted update; dropped"
                continue
            try:
                server.add(reply)
            except ProtocolError as exc:
                failures[sid] = f"encrypted update rejected: {exc}"
                continue
            self.last_bytes_per_site[sid] = reply.nbytes
        if len(server.contributors) < self.min_contributors:
            raise ProtocolError(
                f"Round {ins.round_num}: only {len(server.contributors)} site(s) contributed to the CKKS "
                f"aggregate, {self.min_contributors} are needed; the key owner will not decrypt it "
                f"(failures: {failures})."
            )
        mean, weight = self.key_owner.decrypt_mean(
            server.result(), expected_contributors=self.min_contributors, contributors=len(server.contributors)
        )
        label = f"he[{'+'.join(server.contributors)}]"
        return Collection(mean[None, :], np.array([weight]), [label], list(server.contributors), failures)
