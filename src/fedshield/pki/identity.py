"""Who is calling, read only from a certificate the TLS layer already verified.

The server re-checks the chain, validity window and key usage itself (defence in
depth: a misconfigured TLS trust store must not be the only gate) and never
trusts an identity carried inside a message.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from fedshield.errors import ConfigError, VerificationError
from fedshield.pki.ca import ROLES


@dataclass(frozen=True)
class Identity:
    subject_id: str
    role: str
    fingerprint: str  # sha256 of the DER certificate
    key_fingerprint: str  # sha256 of the DER SubjectPublicKeyInfo: stable across renewals
    serial: int
    certificate: x509.Certificate

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self.certificate.public_key()  # type: ignore[return-value]


def load_certificate(path: str | Path) -> x509.Certificate:
    """A PEM certificate from a file named in a config or on the command line."""
    try:
        return x509.load_pem_x509_certificate(Path(path).read_bytes())
    except FileNotFoundError:
        raise ConfigError(f"Certificate {str(path)!r} does not exist.") from None
    except ValueError:
        raise ConfigError(f"{str(path)!r} is not a PEM certificate.") from None


def fingerprint(cert: x509.Certificate) -> str:
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def key_fingerprint(cert: x509.Certificate) -> str:
    spki = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(spki).hexdigest()


def identity_of(cert: x509.Certificate) -> Identity:
    """Parse the ``fedshield://`` SAN URIs; exactly one subject and one role."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        raise VerificationError("The certificate has no subjectAltName; issue it with `fedshield ca issue`.") from None
    subjects, roles = [], []
    for uri in san.get_values_for_type(x509.UniformResourceIdentifier):
        if uri.startswith("fedshield://role/"):
            roles.append(uri.removeprefix("fedshield://role/"))
        elif uri.startswith(("fedshield://site/", "fedshield://server/")):
            subjects.append(uri.split("/", 3)[3])
    if len(subjects) != 1 or len(roles) != 1 or roles[0] not in ROLES:
        raise VerificationError(
            f"The certificate must carry one fedshield://site/<id> and one fedshield://role/<role> URI "
            f"(role in {list(ROLES)}); got subjects {subjects} and roles {roles}.")
    return Identity(subjects[0], roles[0], fingerprint(cert), key_fingerprint(cert), cert.serial_number, cert)


def verify_chain(cert: x509.Certificate, ca_cert: x509.Certificate, *, now: dt.datetime | None = None) -> None:
    now = now or dt.datetime.now(dt.timezone.utc)
    try:
        if cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
            raise VerificationError("A CA certificate cannot act as a participant; use a leaf certificate.")
    except x509.ExtensionNotFound:
        pass
    if cert.issuer != ca_cert.subject:
        raise VerificationError("The certificate was not issued by the consortium CA; ask the consortium for one.")
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):
        raise VerificationError("The certificate's signature does not verify against the consortium CA.") from None
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise VerificationError(
            f"The certificate is outside its validity window ({cert.not_valid_before_utc:%Y-%m-%dT%H:%MZ} to "
            f"{cert.not_valid_after_utc:%Y-%m-%dT%H:%MZ}); renew it with `fedshield ca issue`.")
