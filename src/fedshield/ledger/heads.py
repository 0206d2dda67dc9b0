"""Signed tree heads: the coordinator's Ed25519 commitment to the log so far.

Why a fixed binary message: the signature covers (log id, tree size, root
hash, timestamp) in one unambiguous layout with a domain-separation prefix, so
a head can never be replayed as another log's head or as any other signed
FedShield object.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fedshield.errors import DataError, VerificationError
from fedshield.ledger.keys import PublicKeyLike, as_public_key
from fedshield.ledger.merkle import HASH_SIZE

__all__ = ["SignedTreeHead", "tree_head_message", "sign_tree_head"]

_DOMAIN = b"FedShield-STH-v1\x00"


def tree_head_message(*, log_id: bytes, tree_size: int, root_hash: bytes, timestamp_ms: int) -> bytes:
    if len(log_id) != 32 or len(root_hash) != HASH_SIZE:
        raise VerificationError("A tree head needs a 32-byte log id and a 32-byte root hash.")
    return _DOMAIN + log_id + struct.pack(">QQ", tree_size, timestamp_ms) + root_hash


@dataclass(frozen=True, slots=True)
class SignedTreeHead:
    log_id: bytes
    tree_size: int
    root_hash: bytes
    timestamp_ms: int
    signature: bytes

    def message(self) -> bytes:
        return tree_head_message(
            log_id=self.log_id, tree_size=self.tree_size, root_hash=self.root_hash, timestamp_ms=self.timestamp_ms
        )

    def verify(self, public_key: PublicKeyLike) -> None:
        """Check the coordinator's signature or raise VerificationError."""
        try:
            as_public_key(public_key).verify(self.signature, self.message())
        except InvalidSignature:
            raise VerificationError(
                f"Signed tree head (size {self.tree_size}, root {self.root_hash.hex()[:16]}…) has an invalid "
                "signature: it was forged or altered, or you pinned the wrong coordinator key."
            ) from None

    def to_dict(self) -> dict[str, Any]:
        return {
            "log_id": self.log_id.hex(),
            "tree_size": self.tree_size,
            "root_hash": self.root_hash.hex(),
            "timestamp_ms": self.timestamp_ms,
            "signature": self.signature.hex(),
        }

    @classmethod
    def from_dict(cls, obj: dict[str, Any]) -> SignedTreeHead:
        try:
            return cls(
                log_id=bytes.fromhex(obj["log_id"]),
                tree_size=int(obj["tree_size"]),
                root_hash=bytes.fromhex(obj["root_hash"]),
                timestamp_ms=int(obj["timestamp_ms"]),
                signature=bytes.fromhex(obj["signature"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(
                f"Malformed tree head ({exc!r}); expected the fields log_id, tree_size, root_hash, "
                "timestamp_ms and signature as written by SignedTreeHead.to_dict()."
            ) from None


def sign_tree_head(
    key: Ed25519PrivateKey, *, log_id: bytes, tree_size: int, root_hash: bytes, timestamp_ms: int
) -> SignedTreeHead:
    msg = tree_head_message(log_id=log_id, tree_size=tree_size, root_hash=root_hash, timestamp_ms=timestamp_ms)
    return SignedTreeHead(
        log_id=log_id, tree_size=tree_size, root_hash=root_hash, timestamp_ms=timestamp_ms, signature=key.sign(msg)
    )
