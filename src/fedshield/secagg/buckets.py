"""Bucketed secure aggregation: SecAgg+ per random bucket, then robust aggregation over bucket means.

Why: a Byzantine-robust aggregator (median, trimmed mean, Krum) needs several
vectors to compare, but SecAgg+ reveals only one sum. Shuffling sites into
buckets of size s with public randomness (so the server cannot pick bucket
mates) and running one SecAgg+ round per bucket reveals only s-site means:
a poisoned update can corrupt only its own bucket's mean, which the robust
aggregator then treats as one outlier among n / s. The privacy cost is that
the server learns means of s sites instead of n; choose s >= 3 (it is 2 at least).
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fedshield.errors import ProtocolError, param_error
from fedshield.secagg.config import SecAggConfig
from fedshield.secagg.driver import run_secagg
from fedshield.secagg.messages import AggregateResult
from fedshield.secagg.prg import expand_words

__all__ = ["assign_buckets", "bucket_configs", "run_bucketed_secagg", "BucketedResult"]


def _derive(label: bytes, base: bytes, index: int, length: int) -> bytes:
    return hashlib.sha256(b"fedshield/secagg/bucket/" + label + base + index.to_bytes(4, "little")).digest()[
        :length
    ]


def assign_buckets(client_ids: Sequence[int], *, bucket_size: int, seed: bytes) -> list[tuple[int, ...]]:
    """Shuffle with public randomness and cut into floor(n / s) buckets of s or s + 1 sites."""
    ids = sorted(set(int(c) for c in client_ids))
    if not isinstance(bucket_size, int) or bucket_size < 2:
        raise param_error("bucket_size", "assign_buckets", "an int >= 2", bucket_size)
    if len(ids) < bucket_size:
        raise param_error(
            "client_ids", "assign_buckets", f"at least bucket_size = {bucket_size} sites", len(ids)
        )
    key = hashlib.sha256(b"fedshield/secagg/bucket-shuffle" + bytes(seed)).digest()
    order = np.argsort(expand_words(key, n_words=2 * len(ids)).view(np.uint64), kind="stable")
    shuffled = [ids[i] for i in order]
    n_buckets = len(ids) // bucket_size
    return [tuple(sorted(shuffled[b::n_buckets])) for b in range(n_buckets)]


def bucket_configs(
    *,
    round_id: bytes,
    client_ids: Sequence[int],
    bucket_size: int,
    dim_params: int,
    graph_seed: bytes,
    clip_range: float,
    max_weight: int = 1,
    identity_public_keys: Mapping[int, bytes] | None = None,
) -> list[SecAggConfig]:
    """One SecAgg+ config per bucket, each with its own round id and graph seed (no cross-bucket replay)."""
    configs = []
    for index, members in enumerate(assign_buckets(client_ids, bucket_size=bucket_size, seed=graph_seed)):
        configs.append(
            SecAggConfig.for_round(
                round_id=_derive(b"round", round_id, index, 16),
                client_ids=members,
                dim_params=dim_params,
                graph_seed=_derive(b"graph", graph_seed, index, 32),
                clip_range=clip_range,
                max_weight=max_weight,
                identity_public_keys=None
                if identity_public_keys is None
                else {c: identity_public_keys[c] for c in members},
            )
        )
    return configs


@dataclass(frozen=True, eq=False)
class BucketedResult:
    results: tuple[AggregateResult, ...]  # one per bucket that completed
    failed_buckets: tuple[tuple[int, ...], ...]  # members of buckets that failed closed

    def means(self) -> np.ndarray:
        """(buckets, d) matrix of bucket means, the input of a robust aggregator."""
        return np.stack([r.mean for r in self.results])

    def weights(self) -> np.ndarray:
        return np.array([r.total_weight for r in self.results], dtype=np.int64)

    def weighted_mean(self) -> np.ndarray:
        """The plain (non-robust) mean over all buckets, equal to one big SecAgg round's output."""
        w = self.weights()
        return (self.means() * w[:, None]).sum(axis=0) / w.sum()


def run_bucketed_secagg(
    *,
    configs: Sequence[SecAggConfig],
    updates: Mapping[int, np.ndarray],
    weights: Mapping[int, int] | None = None,
    dropouts: Mapping[str, Collection[int]] | None = None,
    identity_keys: Mapping[int, Ed25519PrivateKey | bytes] | None = None,
    skip_failed_buckets: bool = False,
    seed: int | None = None,
) -> BucketedResult:
    """Run each bucket's round in memory; a bucket below threshold fails closed or is skipped."""
    results, failed = [], []
    for index, cfg in enumerate(configs):
        members = set(cfg.client_ids)
        try:
            run = run_secagg(
                config=cfg,
                updates={c: updates[c] for c in cfg.client_ids},
                weights=None if weights is None else {c: weights[c] for c in cfg.client_ids},
                dropouts={s: set(ids) & members for s, ids in (dropouts or {}).items()},
                identity_keys=None
                if identity_keys is None
                else {c: identity_keys[c] for c in cfg.client_ids},
                seed=None if seed is None else seed * 1_000_003 + index,
                record_messages=False,
            )
        except ProtocolError:
            if not skip_failed_buckets:
                raise
            failed.append(cfg.client_ids)
            continue
        results.append(run.result)
    if not results:
        raise ProtocolError(
            f"All {len(configs)} buckets failed closed (too many dropouts); no aggregate this round. "
            "Retry the round or use larger buckets."
        )
    return BucketedResult(tuple(results), tuple(failed))
