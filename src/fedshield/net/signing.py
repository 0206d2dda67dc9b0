"""What a site signs, and how the server checks it.

The signature binds an update to (run, round, global model, server nonce,
update hash): a captured update cannot be replayed (the nonce is single use),
moved to another round or run, or applied to another model. The key is the
site's TLS key, so the signer is the authenticated peer and nobody else.
"""

from __future__ import annotations

import hashlib
import json

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from fedshield.errors import VerificationError


def payload(kind: str, *, identity: str, run_id: str, round_num: int, model_sha256: str, nonce: bytes,
            content_sha256: str, num_examples: int) -> bytes:
    return b"fedshield-" + kind.encode() + b"-v1\x00" + json.dumps(
        [identity, run_id, int(round_num), model_sha256, nonce.hex(), content_sha256, int(num_examples)],
        separators=(",", ":")).encode()


def sign(key: ec.EllipticCurvePrivateKey, message: bytes) -> bytes:
    return key.sign(message, ec.ECDSA(hashes.SHA256()))


def verify(public_key: ec.EllipticCurvePublicKey, signature: bytes, message: bytes) -> None:
    try:
        public_key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        raise VerificationError("The update's signature does not verify against the sender's certificate key; "
                                "it was tampered with or signed with another key. Resend a freshly signed update.") from None


def sha256(data: bytes | memoryview) -> str:
    return hashlib.sha256(data).hexdigest()
