"""Collect a round's updates through SecAgg+ so the server sees only (bucket) aggregates.

Why a collector rather than a new engine: screening, the robust aggregator, the
server optimizer, accounting and the ledger stay exactly as in a plain round;
only "sites send deltas, server stacks them" is replaced. The server side of
this module holds nothing but ``SecAggServer`` objects, which see public keys,
ciphertexts of shares, masked uint32 vectors and unmask shares; the engine gets
rows that are bucket means.

Buckets (``bucket_size = s``): every round the admitted sites are shuffled with
seeded public randomness into floor(n / s) buckets of s or s + 1 sites, SecAgg+
runs in each bucket, and the robust aggregator runs over the bucket means. The
server learns means of s sites, not of n: s trades privacy for robustness.
``bucket_size=None`` is one bucket of all sites (plain secure FedAvg);
``bucket_size=1`` means no secure aggregation at all (the baseline: the server
sees and clips each update itself).

What a site that does not clip can still do (nobody can check inside a mask):
its masked vector is an arbitrary element of Z_(2^32)^(d+1). After unmasking,
the bucket sum wraps modulo 2^32, so the site can set its bucket's sum to any
int32 value per coordinate, and its weight word to anything. This collector
therefore (a) with uniform weights, checks the weight total equals the number
of survivors and rescales otherwise, and caps it at survivors * max_weight with
example weights; (b) clamps each bucket mean to the box [-clip_range, clip_range]
that every honest mean lies in (up to the quantization bound) and flags the bucket.
After that the attacker still controls its *whole bucket's* mean anywhere in
the box: a shift of up to 2 * clip_range per coordinate (up to 2 * clip_range *
sqrt(d) in L2), against 2 * clip_range / s for a site that clips honestly. The
L2 ``clip_norm`` is honoured by honest sites only; it cannot be enforced under
masking. The robust aggregator must therefore treat every bucket with an
attacker as fully corrupted: with f attackers, up to min(f, n / s) of the n / s
bucket means are bad, so larger buckets mean fewer, more often poisoned rows.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

from fedshield.client.secagg_role import SecAggBegin, clip_update
from fedshield.errors import ProtocolError, SecurityError, param_error
from fedshield.messages import FitIns, FitRes, SiteFailure
from fedshield.secagg.buckets import bucket_configs
from fedshield.secagg.config import SecAggConfig
from fedshield.secagg.messages import AggregateResult
from fedshield.secagg.server import SecAggServer
from fedshield.server.engine import Collection

__all__ = ["SecureCollector", "BucketReport"]


@dataclass
class BucketReport:
    """Public facts about one bucket of the last round (what the server may log)."""

    label: str
    members: tuple[str, ...]
    survivors: tuple[str, ...] = ()
    total_weight: int = 0
    error_bound: float = 0.0
    out_of_range: bool = False  # the unmasked mean left the honest box: some member did not clip
    weight_mismatch: bool = False
    failed: str | None = None


@dataclass
class SecureCollector:
    """Drives SecAgg+ (optionally per bucket) over a ``StageTransport``; see the module docstring.

    ``seed`` makes bucket shuffles and neighbour graphs reproducible in
    simulation; in deployment derive it from a public randomness beacon drawn
    after client selection, so the server cannot choose bucket mates.
    """

    clip_range: float
    bucket_size: int | None = None
    clip_norm: float | None = None
    weighting: Literal["examples", "uniform"] = "examples"
    max_weight: int = 65_535
    seed: int = 0
    skip_failed_buckets: bool = False
    degree: int | None = None
    threshold: int | None = None
    identity_public_keys: dict[str, bytes] | None = None
    last_report: list[BucketReport] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        owner = "SecureCollector"
        if not (isinstance(self.clip_range, int | float) and np.isfinite(self.clip_range) and self.clip_range > 0):
            raise param_error("clip_range", owner, "a finite float > 0 (the per-coordinate update bound)",
                              self.clip_range)
        if self.bucket_size is not None and (not isinstance(self.bucket_size, int) or self.bucket_size < 1):
            raise param_error("bucket_size", owner, "None (one bucket), 1 (no SecAgg) or an int >= 2",
                              self.bucket_size)
        if self.clip_norm is not None and not self.clip_norm > 0:
            raise param_error("clip_norm", owner, "None or a float > 0", self.clip_norm)
        if self.weighting not in ("examples", "uniform"):
            raise param_error("weighting", owner, "'examples' or 'uniform'", self.weighting)

    def describe(self) -> dict[str, Any]:
        """The metrics.json section: the protocol and the public facts of the last round's buckets."""
        ok = [b for b in self.last_report if b.failed is None]
        summary = (f"last round the server unmasked {len(ok)} sum(s) of "
                   f"{'/'.join(str(len(b.survivors)) for b in ok) or 0} site(s), never one site's update "
                   f"(4 bytes per parameter uploaded)")
        return {
            "protocol": "SecAgg+ (X25519 key agreement, Shamir t-of-k, AES-CTR masks)",
            "summary": summary,
            "bucket_size": self.bucket_size,
            "last_round_buckets": [asdict(b) for b in self.last_report],
        }

    # -- the engine's entry point ------------------------------------------------------
    def collect(self, transport: Any, admitted: list[str], ins: FitIns) -> Collection:
        if self.bucket_size == 1:
            return self._collect_plain(transport, admitted, ins)
        if not hasattr(transport, "exchange"):
            raise ProtocolError(
                "Secure aggregation needs a transport with exchange() (stage messages); "
                f"{type(transport).__name__} has none. Use InMemoryTransport or a stage-capable transport."
            )
        order = list(admitted)
        if len(order) < 2:
            raise ProtocolError(
                f"Round {ins.round_num}: secure aggregation needs at least 2 sites, {len(order)} admitted."
            )
        ids = {sid: i for i, sid in enumerate(order)}
        names = dict(enumerate(order))
        configs = self._configs(order, ids, ins)
        servers = [SecAggServer(config=cfg) for cfg in configs]
        bucket_of = {cid: b for b, cfg in enumerate(configs) for cid in cfg.client_ids}
        reports = [
            BucketReport(label=_label(b, [names[c] for c in cfg.client_ids]),
                         members=tuple(names[c] for c in cfg.client_ids))
            for b, cfg in enumerate(configs)
        ]
        failures: dict[str, str] = {}
        results: dict[int, AggregateResult] = {}
        outbound: dict[str, object] = {
            names[cid]: SecAggBegin(
                recipient_id=cid,
                ins=ins,
                config=configs[bucket_of[cid]],
                clip_norm=self.clip_norm,
                weighting=self.weighting,
            )
            for cid in bucket_of
        }
        open_buckets = set(range(len(configs)))
        while open_buckets:
            replies = transport.exchange(outbound, round_num=ins.round_num) if outbound else {}
            for sid, reply in replies.items():
                b = bucket_of[ids[sid]]
                if isinstance(reply, SiteFailure):
                    failures.setdefault(sid, reply.reason)
                    continue
                if getattr(reply, "client_id", None) != ids[sid]:
                    failures.setdefault(sid, "its reply claims another sender; dropped")
                    continue
                try:
                    servers[b].receive(reply)
                except SecurityError as exc:  # VerificationError
                    failures.setdefault(sid, f"reply rejected: {exc}")
                except ProtocolError as exc:
                    failures.setdefault(sid, f"reply rejected: {exc}")
            outbound = {}
            for b in sorted(open_buckets):
                try:
                    out = servers[b].close_stage()
                except (ProtocolError, SecurityError) as exc:
                    open_buckets.discard(b)
                    reports[b].failed = str(exc)
                    if not self.skip_failed_buckets:
                        raise ProtocolError(
                            f"Round {ins.round_num}: secure aggregation failed closed in "
                            f"{reports[b].label}: {exc}"
                        ) from exc
                    for sid in reports[b].members:
                        failures.setdefault(sid, f"its bucket failed closed: {exc}")
                    continue
                if isinstance(out, AggregateResult):
                    results[b] = out
                    open_buckets.discard(b)
                else:
                    outbound.update({names[cid]: msg for cid, msg in out.items()})
        if not results:
            raise ProtocolError(
                f"Round {ins.round_num}: every bucket failed closed; no aggregate. "
                "Retry the round, use larger buckets or fewer dropouts."
            )
        return self._rows(results, reports, names, failures)

    # -- helpers ---------------------------------------------------------------------
    def _configs(self, order: list[str], ids: dict[str, int], ins: FitIns) -> list[SecAggConfig]:
        base = f"{self.seed}/{ins.run_id}/{ins.round_num}".encode()
        round_id = hashlib.sha256(b"fedshield/secure-collect/round/" + base).digest()[:16]
        graph_seed = hashlib.sha256(b"fedshield/secure-collect/graph/" + base).digest()
        max_weight = 1 if self.weighting == "uniform" else self.max_weight
        keys = None
        if self.identity_public_keys is not None:
            keys = {ids[s]: self.identity_public_keys[s] for s in order}
        d = int(np.asarray(ins.parameters).shape[0])
        n = len(order)
        if self.bucket_size is None or self.bucket_size >= n:
            return [SecAggConfig.for_round(
                round_id=round_id, client_ids=list(range(n)), dim_params=d, graph_seed=graph_seed,
                clip_range=float(self.clip_range), degree=self.degree, threshold=self.threshold,
                max_weight=max_weight, identity_public_keys=keys,
            )]
        return bucket_configs(
            round_id=round_id, client_ids=list(range(n)), bucket_size=self.bucket_size, dim_params=d,
            graph_seed=graph_seed, clip_range=float(self.clip_range), max_weight=max_weight,
            identity_public_keys=keys,
        )

    def _rows(
        self,
        results: dict[int, AggregateResult],
        reports: list[BucketReport],
        names: dict[int, str],
        failures: dict[str, str],
    ) -> Collection:
        c = float(self.clip_range)
        rows, weights, labels, participants = [], [], [], []
        for b in sorted(results):
            res, rep = results[b], reports[b]
            survivors = [names[s] for s in res.survivor_ids]
            mean = np.asarray(res.mean, dtype=np.float64)
            mw = 1 if self.weighting == "uniform" else self.max_weight
            cap = len(survivors) * mw
            weight = res.total_weight
            if self.weighting == "uniform" and weight != cap:
                mean = mean * (weight / cap)  # decode divided by a forged weight total
                rep.weight_mismatch, weight = True, cap
            elif weight > cap:
                rep.weight_mismatch, weight = True, cap
            if np.abs(mean).max(initial=0.0) > c + res.error_bound:
                rep.out_of_range = True
            np.clip(mean, -c, c, out=mean)
            rep.survivors, rep.total_weight, rep.error_bound = tuple(survivors), int(weight), res.error_bound
            rows.append(mean)
            weights.append(float(weight))
            labels.append(rep.label)
            participants.extend(survivors)
        self.last_report = reports
        return Collection(
            updates=np.stack(rows),
            weights=np.asarray(weights),
            labels=labels,
            participants=participants,
            failures={s: why for s, why in failures.items() if s not in set(participants)},
        )

    def _collect_plain(self, transport: Any, admitted: list[str], ins: FitIns) -> Collection:
        """Bucket size 1: no secrecy, so the server clips each update itself (the baseline)."""
        answers = transport.fit(admitted, ins)
        rows, weights, labels, failures = [], [], [], {}
        d = int(np.asarray(ins.parameters).shape[0])
        reports = []
        for a in answers:
            if isinstance(a, SiteFailure):
                failures[a.site_id] = a.reason
                continue
            assert isinstance(a, FitRes)
            delta = np.asarray(a.delta, dtype=np.float64)
            if delta.shape != (d,) or not np.isfinite(delta).all():
                failures[a.site_id] = f"malformed update of shape {delta.shape}"
                continue
            rows.append(clip_update(delta, clip_norm=self.clip_norm, clip_range=float(self.clip_range)))
            w = 1.0 if self.weighting == "uniform" else float(min(max(a.num_examples, 0), self.max_weight))
            weights.append(w)
            labels.append(a.site_id)
            reports.append(BucketReport(label=a.site_id, members=(a.site_id,), survivors=(a.site_id,),
                                        total_weight=int(w)))
        if not rows:
            raise ProtocolError(f"Round {ins.round_num}: no site returned a usable update ({failures}).")
        self.last_report = reports
        return Collection(np.stack(rows), np.asarray(weights), labels, list(labels), failures)


def _label(index: int, members: list[str]) -> str:
    return f"bucket{index}[{'+'.join(members)}]"
