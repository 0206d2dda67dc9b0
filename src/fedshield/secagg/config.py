"""Public parameters of one SecAgg+ round, identical for every party.

Why a digest: every key derivation, AEAD associated data and signature is
bound to ``digest``, so a server that shows different parameters (threshold,
graph seed, participants) to different clients only produces failures.
"""

from __future__ import annotations

import hashlib
import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

from fedshield.errors import param_error
from fedshield.secagg.graph import check_degree, default_degree, neighbour_graph
from fedshield.secagg.quantize import max_bits

__all__ = ["SecAggConfig"]


@dataclass(frozen=True, kw_only=True)
class SecAggConfig:
    """One round's parameters.

    Attributes (all keyword-only):
        round_id: unique public bytes per round (e.g. 16 random bytes); reuse across
            rounds would let old shares and keys be replayed.
        client_ids: the sampled clients (non-negative ints below 2^63).
        dim_params: number of model parameters d in each flat update.
        degree: neighbours per client k (k = n - 1 is classic SecAgg).
        threshold: shares needed, t, among each client's k + 1 holders (its
            neighbours and itself); must exceed (k + 1) / 2 so that no two disjoint
            sets of holders can reveal both secrets of one client.
        clip_range: updates are clipped to [-clip_range, clip_range], in parameter units.
        bits: signed quantization bits per client value (<= 32 - ceil(log2 n)).
        max_weight: weights are integers in [0, max_weight] (e.g. example counts).
        graph_seed: public randomness for the neighbour graph, unknown before
            client selection (e.g. a randomness beacon).
        identity_public_keys: enrolled Ed25519 public keys (raw 32 bytes) per client.
            When given, adverts must be signed and the consistency-check stage runs,
            which protects against an actively malicious server.
    """

    round_id: bytes
    client_ids: tuple[int, ...]
    dim_params: int
    degree: int
    threshold: int
    clip_range: float
    bits: int
    max_weight: int = 1
    graph_seed: bytes
    identity_public_keys: Mapping[int, bytes] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        owner = "SecAggConfig"
        object.__setattr__(self, "client_ids", tuple(sorted(int(c) for c in self.client_ids)))
        n = len(self.client_ids)
        if (
            n < 2
            or len(set(self.client_ids)) != n
            or self.client_ids[0] < 0
            or self.client_ids[-1] >= 1 << 63
        ):
            raise param_error("client_ids", owner, "at least 2 distinct ids in [0, 2^63)", self.client_ids)
        if not isinstance(self.round_id, bytes) or not 8 <= len(self.round_id) <= 64:
            raise param_error("round_id", owner, "8 to 64 unique bytes per round", self.round_id)
        if not isinstance(self.graph_seed, bytes) or len(self.graph_seed) < 16:
            raise param_error("graph_seed", owner, "at least 16 bytes of public randomness", self.graph_seed)
        if not isinstance(self.dim_params, int) or self.dim_params < 1:
            raise param_error("dim_params", owner, "an int >= 1", self.dim_params)
        check_degree(n_clients=n, degree=self.degree)
        holders = self.degree + 1
        if not holders // 2 + 1 <= self.threshold <= holders:
            raise param_error(
                "threshold",
                owner,
                f"an int in [{holders // 2 + 1}, {holders}] (more than half of the degree + 1 = "
                f"{holders} share holders)",
                self.threshold,
            )
        if not (
            isinstance(self.clip_range, int | float)
            and math.isfinite(self.clip_range)
            and self.clip_range > 0
        ):
            raise param_error("clip_range", owner, "a finite float > 0", self.clip_range)
        if not 2 <= self.bits <= max_bits(n):
            raise param_error(
                "bits",
                owner,
                f"an int in [2, {max_bits(n)}] so that {n} summed values cannot overflow",
                self.bits,
            )
        if not isinstance(self.max_weight, int) or not 1 <= self.max_weight or n * self.max_weight >= 1 << 32:
            raise param_error(
                "max_weight", owner, f"an int >= 1 with n * max_weight < 2^32 (n = {n})", self.max_weight
            )
        if self.identity_public_keys is not None:
            missing = set(self.client_ids) - set(self.identity_public_keys)
            if missing:
                raise param_error(
                    "identity_public_keys",
                    owner,
                    "an enrolled key for every client",
                    f"missing {sorted(missing)}",
                )

    @classmethod
    def for_round(
        cls,
        *,
        round_id: bytes,
        client_ids: Sequence[int],
        dim_params: int,
        graph_seed: bytes,
        clip_range: float,
        degree: int | None = None,
        threshold: int | None = None,
        bits: int | None = None,
        max_weight: int = 1,
        identity_public_keys: Mapping[int, bytes] | None = None,
    ) -> SecAggConfig:
        """Fill in k = O(log n), the smallest safe t and the widest safe bits."""
        n = len(client_ids)
        k = default_degree(n) if degree is None else degree
        if degree is None and k % 2 and n % 2:
            k -= 1
        return cls(
            round_id=round_id,
            client_ids=tuple(client_ids),
            dim_params=dim_params,
            degree=k,
            threshold=(k + 1) // 2 + 1 if threshold is None else threshold,
            clip_range=clip_range,
            bits=max_bits(n) if bits is None else bits,
            max_weight=max_weight,
            graph_seed=graph_seed,
            identity_public_keys=identity_public_keys,
        )

    @property
    def n_clients(self) -> int:
        return len(self.client_ids)

    @property
    def active_security(self) -> bool:
        return self.identity_public_keys is not None

    @cached_property
    def digest(self) -> bytes:
        h = hashlib.sha256(b"fedshield/secagg/v1/config")
        h.update(struct.pack("<B", len(self.round_id)) + self.round_id)
        h.update(struct.pack(f"<Q{len(self.client_ids)}Q", len(self.client_ids), *self.client_ids))
        h.update(
            struct.pack(
                "<QQQdQQ",
                self.dim_params,
                self.degree,
                self.threshold,
                float(self.clip_range),
                self.bits,
                self.max_weight,
            )
        )
        h.update(struct.pack("<B", len(self.graph_seed)) + self.graph_seed)
        if self.identity_public_keys is not None:
            for cid in self.client_ids:
                h.update(self.identity_public_keys[cid])
        return h.digest()

    @cached_property
    def neighbours(self) -> dict[int, tuple[int, ...]]:
        return neighbour_graph(self.client_ids, degree=self.degree, seed=self.graph_seed)
