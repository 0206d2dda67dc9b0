"""Key agreement, key derivation, share encryption and signatures for SecAgg+.

Why every derived key is bound to the round's config digest and both ids:
a share ciphertext or mask key from one round, pair or direction must be
useless in any other, so a server replaying or rerouting messages only causes
authentication failures (fail closed), never key reuse.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from fedshield.errors import VerificationError
from fedshield.secagg.prg import RandomBytes

__all__ = [
    "x25519_keypair",
    "x25519_public",
    "agree",
    "derive_key",
    "seal",
    "open_sealed",
    "sign",
    "verify",
    "advert_payload",
    "survivors_payload",
    "share_aad",
    "seed_commitment",
]

_DOMAIN = b"fedshield/secagg/v1/"
_ZERO_NONCE = bytes(12)


def x25519_keypair(random_bytes: RandomBytes) -> tuple[bytes, bytes]:
    """Return (raw private key, raw public key), 32 bytes each."""
    sk = X25519PrivateKey.from_private_bytes(random_bytes(32))
    return sk.private_bytes_raw(), sk.public_key().public_bytes_raw()


def x25519_public(private_raw: bytes) -> bytes:
    return X25519PrivateKey.from_private_bytes(private_raw).public_key().public_bytes_raw()


def agree(private_raw: bytes, public_raw: bytes) -> bytes:
    """X25519; rejects low-order public keys (all-zero shared secret)."""
    try:
        return X25519PrivateKey.from_private_bytes(private_raw).exchange(
            X25519PublicKey.from_public_bytes(public_raw)
        )
    except ValueError as exc:
        raise VerificationError(
            f"A peer's X25519 public key is invalid or of low order ({exc}); "
            "its advert was corrupted or forged. Drop that peer."
        ) from None


def _ids(*ids: int) -> bytes:
    return struct.pack(f"<{len(ids)}Q", *ids)


def derive_key(secret: bytes, *, purpose: bytes, config_digest: bytes, ids: Iterable[int]) -> bytes:
    """HKDF-SHA256 to a full 32-byte key, salted with the round's config digest."""
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=config_digest, info=_DOMAIN + purpose + _ids(*ids)
    ).derive(secret)


def share_aad(*, config_digest: bytes, sender: int, receiver: int) -> bytes:
    return _DOMAIN + b"share" + config_digest + _ids(sender, receiver)


def seal(key: bytes, plaintext: bytes, *, aad: bytes) -> bytes:
    """ChaCha20-Poly1305 with a zero nonce.

    Why a fixed nonce is safe here: the key is derived per (round, sender,
    receiver, direction) from fresh per-round X25519 keys and encrypts exactly
    one message, so no (key, nonce) pair ever repeats.
    """
    return ChaCha20Poly1305(key).encrypt(_ZERO_NONCE, plaintext, aad)


def open_sealed(key: bytes, ciphertext: bytes, *, aad: bytes, what: str) -> bytes:
    try:
        return ChaCha20Poly1305(key).decrypt(_ZERO_NONCE, ciphertext, aad)
    except InvalidTag:
        raise VerificationError(
            f"{what} failed authentication: it was tampered with, replayed from another "
            "round, or routed to the wrong client. Aborting this client's participation."
        ) from None


def sign(identity_private: Ed25519PrivateKey | bytes, payload: bytes) -> bytes:
    key = (
        identity_private
        if isinstance(identity_private, Ed25519PrivateKey)
        else Ed25519PrivateKey.from_private_bytes(identity_private)
    )
    return key.sign(payload)


def verify(identity_public: bytes, signature: bytes, payload: bytes, *, what: str) -> None:
    try:
        Ed25519PublicKey.from_public_bytes(identity_public).verify(signature, payload)
    except (InvalidSignature, ValueError):
        raise VerificationError(
            f"The signature on {what} does not verify under the enrolled identity key; "
            "the message was forged or altered. Aborting instead of trusting it."
        ) from None


def advert_payload(*, config_digest: bytes, client_id: int, cipher_pk: bytes, mask_pk: bytes) -> bytes:
    return _DOMAIN + b"advert" + config_digest + _ids(client_id) + cipher_pk + mask_pk


def survivors_payload(*, config_digest: bytes, survivor_ids: Iterable[int]) -> bytes:
    ids = sorted(survivor_ids)
    return _DOMAIN + b"survivors" + config_digest + _ids(len(ids), *ids)


def seed_commitment(seed: bytes, *, config_digest: bytes, owner: int) -> bytes:
    """SHA-256 commitment to a self-mask seed.

    Why: when exactly t shares of a seed survive, a single corrupt share would
    silently yield a wrong seed and a garbage aggregate; the commitment lets the
    server detect that (the mask key is checked against its public key instead).
    A 256-bit random seed stays hidden behind its hash.
    """
    return hashlib.sha256(_DOMAIN + b"seed-commitment" + config_digest + _ids(owner) + seed).digest()
