"""Distributing the CKKS secret key to the sites through the consortium PKI.

Why this exists: the coordinator adds ciphertexts and must never be able to
decrypt, so the key pair is generated on the sites' side, by one hospital (the
*key steward*), and the secret part reaches every other site sealed to that
site's consortium certificate:

* ECDH (P-256, the curve of the consortium's certificates) between a fresh
  ephemeral key and the recipient's certified key, HKDF-SHA256, AES-256-GCM.
  The header (key id, recipient identity and key fingerprint, steward) is the
  AEAD's associated data, so a sealed key cannot be re-addressed.
* The steward signs header, ephemeral key, nonce and ciphertext with its own
  certificate key; recipients check that signature and that the steward's
  certificate chains to the consortium CA with role ``site``.
* The public half (``PublicKeyBundle``) is signed the same way and goes to the
  coordinator, which checks it carries no secret key. Its SHA-256 is the key id
  that sites compare against every round's instructions, so a coordinator
  cannot slip in a key pair of its own.

Pure: bytes and certificates in, bytes out; files are the CLI's business.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import json
import os
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from fedshield.errors import ConfigError, SecurityError, VerificationError
from fedshield.he.ckks import CkksParams, KeyOwner
from fedshield.pki.identity import Identity, identity_of, key_fingerprint, verify_chain

__all__ = ["PublicKeyBundle", "SealedKey", "seal_key", "open_sealed_key", "sign_public_bundle",
           "verify_public_bundle"]

SEALED_FORMAT = "fedshield-ckks-sealed-key/1"
PUBLIC_FORMAT = "fedshield-ckks-public-key/1"
_HKDF_INFO = b"fedshield ckks secret key v1"


def _canon(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise VerificationError(f"The {what} must be a base64 string; the file is damaged or was edited.")
    try:
        return base64.b64decode(value, validate=True)
    except ValueError:
        raise VerificationError(f"The {what} is not valid base64; the file is damaged or was edited.") from None


def _json_object(text: str, *, not_json: str) -> dict[str, Any]:
    try:
        raw = json.loads(text)
    except ValueError:
        raise VerificationError(not_json) from None
    return raw if isinstance(raw, dict) else {}


def _params_dict(params: CkksParams) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(params).items()}


def _params_of(raw: Any) -> CkksParams:
    if not isinstance(raw, dict):
        raise VerificationError("The CKKS parameters in the key file are missing or malformed.")
    try:
        return CkksParams(**{**raw, "coeff_mod_bit_sizes": tuple(raw.get("coeff_mod_bit_sizes", ()))})
    except (TypeError, ValueError) as exc:
        raise VerificationError(f"The CKKS parameters in the key file are invalid: {exc}") from None


def _steward(cert_pem: bytes, ca_cert: x509.Certificate, now: dt.datetime | None) -> Identity:
    """The signer must be a consortium site: its certificate chains to the CA and carries role 'site'."""
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError:
        raise VerificationError("The key steward's certificate in the key file is not a PEM certificate.") from None
    verify_chain(cert, ca_cert, now=now)
    ident = identity_of(cert)
    if ident.role != "site":
        raise VerificationError(f"The CKKS key was issued by {ident.subject_id!r} with role {ident.role!r}; only a "
                                "site may act as key steward (the coordinator must never generate the key).")
    return ident


def _verify_sig(ident: Identity, signature: bytes, message: bytes, what: str) -> None:
    try:
        ident.public_key().verify(signature, message, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        raise VerificationError(f"The {what} is not signed by the key steward {ident.subject_id!r}; it was altered "
                                "or forged. Ask the steward for a fresh copy (`fedshield he-keys`).") from None


# --- the public half: to the coordinator ------------------------------------------------


@dataclasses.dataclass(frozen=True)
class PublicKeyBundle:
    """The public CKKS context, its parameters, and the steward's signature over them."""

    context: bytes
    params: CkksParams
    steward_cert_pem: bytes
    signature: bytes

    @property
    def key_id(self) -> str:
        return hashlib.sha256(self.context).hexdigest()

    def _signed(self) -> bytes:
        return _canon({"format": PUBLIC_FORMAT, "key_id": self.key_id, "params": _params_dict(self.params)})

    def to_json(self) -> str:
        return json.dumps({"format": PUBLIC_FORMAT, "key_id": self.key_id, "params": _params_dict(self.params),
                           "steward_cert": self.steward_cert_pem.decode("ascii"), "context": _b64(self.context),
                           "signature": _b64(self.signature)}, indent=1)

    @classmethod
    def from_json(cls, text: str) -> PublicKeyBundle:
        raw = _json_object(text, not_json="The CKKS public key file is not JSON; use the file `fedshield he-keys` "
                                          "wrote (public.ckks.json).")
        if raw.get("format") != PUBLIC_FORMAT:
            raise VerificationError(f"The CKKS public key file must have format {PUBLIC_FORMAT!r}.")
        bundle = cls(_unb64(raw.get("context"), "public context"), _params_of(raw.get("params")),
                     str(raw.get("steward_cert", "")).encode("ascii"), _unb64(raw.get("signature"), "signature"))
        if raw.get("key_id") != bundle.key_id:
            raise VerificationError("The CKKS public key file's key_id does not match its context; it was edited.")
        return bundle


def sign_public_bundle(owner: KeyOwner, *, steward_cert: x509.Certificate,
                       steward_key: ec.EllipticCurvePrivateKey) -> PublicKeyBundle:
    pem = steward_cert.public_bytes(serialization.Encoding.PEM)
    unsigned = PublicKeyBundle(owner.public_context(), owner.params, pem, b"")
    return dataclasses.replace(unsigned, signature=steward_key.sign(unsigned._signed(), ec.ECDSA(hashes.SHA256())))


def verify_public_bundle(bundle: PublicKeyBundle, *, ca_cert: x509.Certificate,
                         now: dt.datetime | None = None) -> None:
    """Verify-or-raise: signed by a consortium site, and no secret key inside (fail closed)."""
    from fedshield.he.ckks import _load_public, _ts

    ident = _steward(bundle.steward_cert_pem, ca_cert, now)
    _verify_sig(ident, bundle.signature, bundle._signed(), "CKKS public key")
    try:
        _load_public(_ts(), bundle.context)
    except SecurityError:
        raise
    except Exception:  # noqa: BLE001 - TenSEAL raises bare errors on garbage
        raise VerificationError("The CKKS public context does not deserialize; the file is damaged.") from None


# --- the secret half: one sealed copy per site ------------------------------------------


@dataclasses.dataclass(frozen=True)
class SealedKey:
    header: dict[str, Any]  # format, key_id, params, recipient, recipient_key_sha256, steward
    steward_cert_pem: bytes
    ephemeral_public: bytes  # X9.62 uncompressed P-256 point
    nonce: bytes
    ciphertext: bytes
    signature: bytes

    def _signed(self) -> bytes:
        return _canon(self.header) + self.ephemeral_public + self.nonce + self.ciphertext

    def to_json(self) -> str:
        return json.dumps({"header": self.header, "steward_cert": self.steward_cert_pem.decode("ascii"),
                           "ephemeral_public": _b64(self.ephemeral_public), "nonce": _b64(self.nonce),
                           "ciphertext": _b64(self.ciphertext), "signature": _b64(self.signature)}, indent=1)

    @classmethod
    def from_json(cls, text: str) -> SealedKey:
        raw = _json_object(text, not_json="The sealed CKKS key is not JSON; use the file `fedshield he-keys` wrote "
                                          "for this site (<site>.ckks-key.json).")
        if not isinstance(raw.get("header"), dict) or raw["header"].get("format") != SEALED_FORMAT:
            raise VerificationError(f"The sealed CKKS key must carry a header of format {SEALED_FORMAT!r}.")
        return cls(raw["header"], str(raw.get("steward_cert", "")).encode("ascii"),
                   _unb64(raw.get("ephemeral_public"), "ephemeral key"), _unb64(raw.get("nonce"), "nonce"),
                   _unb64(raw.get("ciphertext"), "ciphertext"), _unb64(raw.get("signature"), "signature"))


def _aead_key(shared: bytes, header: dict[str, Any], ephemeral_public: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=ephemeral_public,
                info=_HKDF_INFO + _canon(header)).derive(shared)


def seal_key(owner: KeyOwner, *, recipient: x509.Certificate, ca_cert: x509.Certificate,
             steward_cert: x509.Certificate, steward_key: ec.EllipticCurvePrivateKey,
             now: dt.datetime | None = None) -> SealedKey:
    """Seal ``owner``'s secret context to one site's certificate, signed by the steward."""
    verify_chain(recipient, ca_cert, now=now)
    who = identity_of(recipient)
    if who.role != "site":
        raise ConfigError(f"The CKKS secret key goes to sites only; {who.subject_id!r} has role {who.role!r}. "
                          "Leave the coordinator's and auditors' certificates out of `fedshield he-keys`.")
    steward = identity_of(steward_cert)
    header = {"format": SEALED_FORMAT, "key_id": owner.key_id, "params": _params_dict(owner.params),
              "recipient": who.subject_id, "recipient_key_sha256": key_fingerprint(recipient),
              "steward": steward.subject_id}
    eph = ec.generate_private_key(ec.SECP256R1())
    eph_pub = eph.public_key().public_bytes(serialization.Encoding.X962,
                                            serialization.PublicFormat.UncompressedPoint)
    shared = eph.exchange(ec.ECDH(), recipient.public_key())
    nonce = os.urandom(12)
    ct = AESGCM(_aead_key(shared, header, eph_pub)).encrypt(nonce, owner.secret_context(), _canon(header) + eph_pub)
    unsigned = SealedKey(header, steward_cert.public_bytes(serialization.Encoding.PEM), eph_pub, nonce, ct, b"")
    return dataclasses.replace(unsigned, signature=steward_key.sign(unsigned._signed(), ec.ECDSA(hashes.SHA256())))


def open_sealed_key(sealed: SealedKey, *, site_cert: x509.Certificate, site_key: ec.EllipticCurvePrivateKey,
                    ca_cert: x509.Certificate, now: dt.datetime | None = None) -> KeyOwner:
    """Verify-or-raise, then unseal: a ``KeyOwner`` this site decrypts aggregates with."""
    h = sealed.header
    steward = _steward(sealed.steward_cert_pem, ca_cert, now)
    if h.get("steward") != steward.subject_id:
        raise VerificationError(f"The sealed key names steward {h.get('steward')!r} but is signed by "
                                f"{steward.subject_id!r}; it is refused.")
    _verify_sig(steward, sealed.signature, sealed._signed(), "sealed CKKS key")
    me = identity_of(site_cert)
    if h.get("recipient") != me.subject_id or h.get("recipient_key_sha256") != key_fingerprint(site_cert):
        raise SecurityError(f"This sealed key is addressed to {h.get('recipient')!r} (key "
                            f"{str(h.get('recipient_key_sha256'))[:12]}...), not to this site {me.subject_id!r} "
                            "with its current key; use this site's own <site>.ckks-key.json, or ask the steward "
                            "to re-seal after a key renewal.")
    key_id = h.get("key_id")
    if not (isinstance(key_id, str) and len(key_id) == 64):
        raise VerificationError("The sealed key's key_id is malformed.")
    try:
        eph = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), sealed.ephemeral_public)
        shared = site_key.exchange(ec.ECDH(), eph)
        plain = AESGCM(_aead_key(shared, h, sealed.ephemeral_public)).decrypt(
            sealed.nonce, sealed.ciphertext, _canon(h) + sealed.ephemeral_public)
    except (InvalidTag, ValueError):
        raise SecurityError("The sealed CKKS key does not open with this site's private key (wrong key, or the "
                            "ciphertext was altered); ask the steward to seal it again.") from None
    return KeyOwner.from_secret_context(plain, params=_params_of(h.get("params")), key_id=key_id)
