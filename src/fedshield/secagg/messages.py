"""Plain messages exchanged in a SecAgg+ round (bytes, ints and numpy arrays only).

Why plain dataclasses: the in-memory driver passes them by reference today and
a gRPC transport can serialise them field by field later, with neither the
client nor the server state machines changing. Direction and stage:

    stage             client -> server          server -> client
    advertise_keys    KeyAdvert                 KeyRoster          (neighbours' adverts)
    share_keys        ShareBundle               ShareInbox         (ciphertexts addressed to it)
    masked_input      MaskedInput               SurvivorList       (active security) or UnmaskRequest
    consistency_check SurvivorSignature         UnmaskRequest      (with the signatures)
    unmask            UnmaskShares              -- the server outputs an AggregateResult
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

__all__ = [
    "Stage",
    "KeyAdvert",
    "KeyRoster",
    "EncryptedShare",
    "ShareBundle",
    "ShareInbox",
    "MaskedInput",
    "SurvivorList",
    "SurvivorSignature",
    "UnmaskRequest",
    "UnmaskShares",
    "AggregateResult",
]


class Stage(enum.StrEnum):
    ADVERTISE_KEYS = "advertise_keys"
    SHARE_KEYS = "share_keys"
    MASKED_INPUT = "masked_input"
    CONSISTENCY_CHECK = "consistency_check"
    UNMASK = "unmask"
    DONE = "done"


@dataclass(frozen=True)
class KeyAdvert:
    client_id: int
    cipher_public_key: bytes  # X25519, encrypts shares
    mask_public_key: bytes  # X25519, derives pairwise masks
    signature: bytes = b""  # Ed25519 over both keys (active security)


@dataclass(frozen=True)
class KeyRoster:
    recipient_id: int
    adverts: tuple[KeyAdvert, ...]  # neighbours that advertised in time


@dataclass(frozen=True)
class EncryptedShare:
    sender_id: int
    recipient_id: int
    ciphertext: bytes


@dataclass(frozen=True)
class ShareBundle:
    client_id: int
    shares: tuple[EncryptedShare, ...]
    seed_commitment: bytes  # SHA-256 of the self-mask seed, checked after reconstruction


@dataclass(frozen=True)
class ShareInbox:
    recipient_id: int
    shares: tuple[EncryptedShare, ...]


@dataclass(frozen=True, eq=False)
class MaskedInput:
    client_id: int
    masked: np.ndarray  # uint32, dim_params + 1 words: [weight, update...] plus masks


@dataclass(frozen=True)
class SurvivorList:
    recipient_id: int
    survivor_ids: tuple[int, ...]


@dataclass(frozen=True)
class SurvivorSignature:
    client_id: int
    signature: bytes


@dataclass(frozen=True)
class UnmaskRequest:
    recipient_id: int
    survivor_ids: tuple[int, ...]  # clients whose masked input the server holds
    signatures: tuple[tuple[int, bytes], ...] = ()  # (signer, signature) over survivor_ids


@dataclass(frozen=True)
class UnmaskShares:
    client_id: int
    seed_shares: tuple[tuple[int, bytes], ...]  # (owner, share of owner's self-mask seed): survivors
    key_shares: tuple[tuple[int, bytes], ...]  # (owner, share of owner's mask key): dropped owners


@dataclass(frozen=True, eq=False)
class AggregateResult:
    """What the server learns: the weighted mean and total weight of survivors, nothing per site."""

    mean: np.ndarray  # float64, dim_params
    total_weight: int
    survivor_ids: tuple[int, ...]
    dropped_ids: tuple[int, ...]
    error_bound: float  # max |mean - exact weighted mean of clipped inputs| per coordinate

    @property
    def weighted_sum(self) -> np.ndarray:
        return self.mean * self.total_weight
