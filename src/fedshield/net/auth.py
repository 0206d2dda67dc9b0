"""Turn a gRPC call into a verified ``Identity`` or refuse it.

Checked on every call, not only at the handshake: the CRL and the enrollment
registry may change while a connection stays open, and a certificate may
expire mid-run.
"""

from __future__ import annotations

import contextvars
import functools
from pathlib import Path

from cryptography import x509

from fedshield.errors import SecurityError, VerificationError
from fedshield.pki.enrollment import Admins, EnrollmentRegistry
from fedshield.pki.identity import Identity, identity_of, verify_chain
from fedshield.pki.revocation import RevocationList

CURRENT: contextvars.ContextVar[Identity | None] = contextvars.ContextVar("fedshield_identity", default=None)


@functools.lru_cache(maxsize=1024)
def _parse(pem: bytes) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem)


class Authenticator:
    def __init__(self, *, ca_cert: str | Path, crl: str | Path, admins: str | Path, registry: str | Path):
        self.ca_cert = x509.load_pem_x509_certificate(Path(ca_cert).read_bytes())
        self.revocations = RevocationList(crl, self.ca_cert)
        self.registry = EnrollmentRegistry(registry, Admins.load(admins))
        self.registry.verify()

    def identify(self, context) -> Identity:
        auth = context.auth_context() or {}
        if auth.get("transport_security_type", [b""])[0] != b"ssl":
            raise SecurityError("The connection is not TLS; connect with mutual TLS and a consortium certificate.")
        pems = auth.get("x509_pem_cert")
        if not pems:
            raise SecurityError("No client certificate was presented; connect with the certificate and key "
                                "issued by `fedshield ca issue`.")
        try:
            cert = _parse(pems[0])
        except ValueError:
            raise VerificationError("The client certificate cannot be parsed.") from None
        verify_chain(cert, self.ca_cert)
        ident = identity_of(cert)
        if self.revocations.is_revoked(ident.serial):
            raise VerificationError(f"The certificate of {ident.subject_id!r} (serial {ident.serial:x}) is revoked; "
                                    "ask the consortium CA for a new certificate and enrollment.")
        self.registry.check(ident.subject_id, ident.role, ident.fingerprint, ident.key_fingerprint)
        return ident


def current_identity() -> Identity:
    ident = CURRENT.get()
    if ident is None:
        raise SecurityError("No verified identity on this call (the interceptor did not run); refused.")
    return ident
