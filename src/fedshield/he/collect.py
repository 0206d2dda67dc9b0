"""CKKS inside the real round: a collector for ``RoundStages.collector`` and the site role.

Why two exchanges instead of SecAgg+'s four: sites encrypt under the
consortium's public key and the server adds ciphertexts, so a site that drops
out simply is not in the sum; there is no recovery stage. The second exchange
asks one contributing site, which holds the secret key (``keyshare`` sealed it
to its certificate), to decrypt the sum. The cost moves to bandwidth (about 32
bytes per parameter) and to the key holders, whose ``HeSiteRole`` refuses:

* to encrypt under any key but the consortium's (a coordinator that sent its
  own key id would otherwise read every update),
* to decrypt for a round it did not contribute to, more than once per round
  (so one site's ciphertext cannot be had by asking round after round), or an
  aggregate the coordinator claims has fewer than ``min_contributors`` sites,
  or contributors that are not sites of the federation.

What it cannot check (honest-but-curious coordinator, said in docs/robust_secure.md):
that the ciphertext it is asked to decrypt really is the sum of the listed
contributions. A coordinator that lies there gets one site's update per round
at most; SecAgg+ does not have this gap.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fedshield.client.secagg_role import clip_update
from fedshield.errors import ProtocolError, SecurityError
from fedshield.he.ckks import CkksParams, CkksPublicKey, EncryptedUpdate, HeAggregator, KeyOwner, encrypt_update
from fedshield.messages import FitIns, SiteFailure
from fedshield.server.engine import Collection

__all__ = ["HeBegin", "HeDecryptRequest", "HeDecrypted", "HeSiteRole", "HeCollector"]


@dataclass(frozen=True)
class HeBegin:
    """Server -> site: the global model and the id of the key to encrypt under."""

    ins: FitIns
    key_id: str
    params: CkksParams
    clip_range: float
    clip_norm: float | None = None


@dataclass(frozen=True)
class HeDecryptRequest:
    """Server -> one contributing site: decrypt this sum of ``contributors``' ciphertexts."""

    run_id: str
    round_num: int
    key_id: str
    contributors: tuple[str, ...]
    aggregate: EncryptedUpdate


@dataclass(frozen=True)
class HeDecrypted:
    """Site -> server: the weighted mean of the sum (float64) and its total weight."""

    site_id: str
    round_num: int
    mean: np.ndarray
    weight: float


class HeSiteRole:
    """Wraps a site: trains, clips, encrypts; holds the secret key and guards what it decrypts."""

    def __init__(self, site: Any, key: KeyOwner, *, min_contributors: int = 2,
                 site_ids: Sequence[str] | None = None) -> None:
        self.site = site
        self.key = key
        self.min_contributors = int(min_contributors)
        self.site_ids = frozenset(site_ids) if site_ids is not None else None
        self.last_input: np.ndarray | None = None  # the site's own clipped update, kept on site
        self._contributed: dict[tuple[str, int], int] = {}  # (run, round) -> dimension
        self._decrypted: set[tuple[str, int]] = set()

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

    def handle_stage(self, msg: object) -> EncryptedUpdate | HeDecrypted:
        if isinstance(msg, HeBegin):
            return self._encrypt(msg)
        if isinstance(msg, HeDecryptRequest):
            return self._decrypt(msg)
        raise ProtocolError(f"Site {self.site_id} cannot handle a {type(msg).__name__} in a CKKS round.")

    def _encrypt(self, msg: HeBegin) -> EncryptedUpdate:
        if msg.key_id != self.key.key_id or msg.params != self.key.params:
            raise SecurityError(
                f"The coordinator asks for encryption under key {msg.key_id[:12]}... but the consortium's CKKS key "
                f"is {self.key.key_id[:12]}...; refusing (a key the sites did not generate would let its holder "
                "read this update). Check that server and sites use the same `fedshield he-keys` output.")
        delta, _ = self.site.train(msg.ins)
        n = int(self.site.data.num_train)
        for transform in getattr(self.site, "transforms", ()):
            delta = transform(delta, round_num=msg.ins.round_num, num_examples=n)
        self.last_input = clip_update(delta, clip_norm=msg.clip_norm, clip_range=msg.clip_range)
        enc = encrypt_update(self.key.encryption_context(), self.last_input, weight=float(n), params=self.key.params,
                             site_id=self.site_id)
        self._contributed[(msg.ins.run_id, msg.ins.round_num)] = int(self.last_input.shape[0])
        return enc

    def _decrypt(self, req: HeDecryptRequest) -> HeDecrypted:
        where = (req.run_id, req.round_num)
        contributors = list(req.contributors)

        def refuse(why: str) -> SecurityError:
            return SecurityError(f"Site {self.site_id} refuses to decrypt round {req.round_num}: {why}.")

        if req.key_id != self.key.key_id:
            raise refuse("the aggregate is not under the consortium's key")
        if where not in self._contributed:
            raise refuse("this site did not contribute to that round, so it cannot be a sum it took part in")
        if where in self._decrypted:
            raise refuse("it already decrypted one aggregate for that round (one decryption per round)")
        if len(set(contributors)) != len(contributors) or self.site_id not in contributors:
            raise refuse(f"the contributor list {contributors} repeats a site or leaves this site out")
        if len(contributors) < self.min_contributors:
            raise refuse(f"{len(contributors)} contributor(s) claimed, at least {self.min_contributors} required "
                         "(one site's ciphertext must never be decrypted)")
        if self.site_ids is not None and not set(contributors) <= self.site_ids:
            raise refuse(f"{sorted(set(contributors) - self.site_ids)} are not sites of this federation")
        if req.aggregate.dim_params != self._contributed[where]:
            raise refuse(f"the aggregate has {req.aggregate.dim_params} parameters, this round's model "
                         f"{self._contributed[where]}")
        self._decrypted.add(where)
        mean, weight = self.key.decrypt_mean(req.aggregate)
        return HeDecrypted(self.site_id, req.round_num, mean, weight)


@dataclass
class HeCollector:
    """Server side of a CKKS round: it holds the public key only."""

    public_key: CkksPublicKey
    clip_range: float = 1.0
    clip_norm: float | None = None
    min_contributors: int = 2
    last_bytes_per_site: dict[str, int] = field(default_factory=dict, init=False)
    last_decryptor: str | None = field(default=None, init=False)

    def describe(self) -> dict[str, Any]:
        """The metrics.json section: the protocol and what each site's ciphertext cost last round."""
        sizes = list(self.last_bytes_per_site.values())
        summary = (f"last round the server added {len(sizes)} ciphertexts ({max(sizes, default=0) / 1024:.0f} KiB "
                   f"each) holding no secret key; key holder {self.last_decryptor} decrypted only their sum")
        return {
            "protocol": "CKKS homomorphic encryption (TenSEAL); the server adds ciphertexts only",
            "summary": summary,
            "bucket_size": None,
            "key_id": self.public_key.key_id,
            "last_round_decrypted_by": self.last_decryptor,
            "last_round_ciphertext_bytes_per_site": dict(self.last_bytes_per_site),
        }

    def collect(self, transport: Any, admitted: list[str], ins: FitIns) -> Collection:
        if not hasattr(transport, "exchange"):
            raise ProtocolError(f"CKKS aggregation needs a transport with exchange(); {type(transport).__name__} "
                                "has none.")
        pk = self.public_key
        begin = HeBegin(ins, pk.key_id, pk.params, float(self.clip_range), self.clip_norm)
        replies = transport.exchange({sid: begin for sid in admitted}, round_num=ins.round_num)
        server = HeAggregator(pk.context)
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
        contributors = list(server.contributors)
        if len(contributors) < self.min_contributors:
            raise ProtocolError(
                f"Round {ins.round_num}: only {len(contributors)} site(s) contributed to the CKKS "
                f"aggregate, {self.min_contributors} are needed; the key holders will not decrypt it "
                f"(failures: {failures})."
            )
        mean, weight = self._decrypt(transport, ins, server.result(), contributors)
        label = f"he[{'+'.join(contributors)}]"
        return Collection(mean[None, :], np.array([weight]), [label], contributors, failures)

    def _decrypt(self, transport: Any, ins: FitIns, total: EncryptedUpdate,
                 contributors: list[str]) -> tuple[np.ndarray, float]:
        """Ask contributors in turn (rotating with the round) until one key holder decrypts the sum."""
        req = HeDecryptRequest(ins.run_id, ins.round_num, self.public_key.key_id, tuple(contributors), total)
        start = ins.round_num % len(contributors)
        why: dict[str, str] = {}
        for sid in contributors[start:] + contributors[:start]:
            reply = transport.exchange({sid: req}, round_num=ins.round_num).get(sid)
            if isinstance(reply, SiteFailure):
                why[sid] = reply.reason
                continue
            if not (isinstance(reply, HeDecrypted) and reply.site_id == sid and reply.round_num == ins.round_num):
                why[sid] = "the reply is not this round's decryption"
                continue
            mean = np.asarray(reply.mean, dtype=np.float64)
            if mean.shape != (total.dim_params,) or not np.isfinite(mean).all() or not reply.weight > 0:
                why[sid] = "the decrypted mean is malformed"
                continue
            self.last_decryptor = sid
            return mean, float(reply.weight)
        raise ProtocolError(f"Round {ins.round_num}: no contributing site decrypted the CKKS aggregate ({why}).")
