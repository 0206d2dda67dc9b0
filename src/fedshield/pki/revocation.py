"""Revocation: a CA-signed CRL the server re-reads whenever its mtime changes.

Why mtime per call instead of at start-up: revoking a stolen hospital key must
take effect on the next call, without restarting a federation mid-run. A CRL
that cannot be read or does not verify makes every call fail (fail closed).
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization

from fedshield.errors import SecurityError, VerificationError
from fedshield.pki._files import write_public
from fedshield.pki.ca import CRL, load_ca


def write_crl(ca_dir: str | Path, serials: list[tuple[int, dt.datetime]]) -> Path:
    ca_cert, ca_key = load_ca(ca_dir)
    now = dt.datetime.now(dt.timezone.utc)
    builder = (x509.CertificateRevocationListBuilder().issuer_name(ca_cert.subject)
               .last_update(now - dt.timedelta(minutes=5)).next_update(now + dt.timedelta(days=7)))
    for serial, when in serials:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when).build())
    crl = builder.sign(ca_key, hashes.SHA256())
    path = Path(ca_dir) / CRL
    write_public(path, crl.public_bytes(serialization.Encoding.PEM))
    return path


def revoke(ca_dir: str | Path, cert_path: str | Path) -> int:
    """Add the certificate at ``cert_path`` to the CRL; returns its serial."""
    cert = x509.load_pem_x509_certificate(Path(cert_path).read_bytes())
    crl_path = Path(ca_dir) / CRL
    current = x509.load_pem_x509_crl(crl_path.read_bytes()) if crl_path.exists() else []
    serials = [(r.serial_number, r.revocation_date_utc) for r in current]
    if cert.serial_number not in {s for s, _ in serials}:
        serials.append((cert.serial_number, dt.datetime.now(dt.timezone.utc)))
    write_crl(ca_dir, serials)
    return cert.serial_number


class RevocationList:
    def __init__(self, crl_path: str | Path, ca_cert: x509.Certificate):
        self.path, self.ca_cert = Path(crl_path), ca_cert
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._revoked: frozenset[int] = frozenset()

    def _reload(self) -> None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            raise SecurityError(f"The CRL {str(self.path)!r} is missing; every call is refused until it is "
                                "restored (run `fedshield ca revoke` or `ca init` to write one).") from None
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp == self._stamp:
            return
        crl = x509.load_pem_x509_crl(self.path.read_bytes())
        try:
            ok = crl.is_signature_valid(self.ca_cert.public_key())  # type: ignore[arg-type]
        except (InvalidSignature, TypeError):
            ok = False
        if not ok or crl.issuer != self.ca_cert.subject:
            raise VerificationError(f"The CRL {str(self.path)!r} is not signed by the consortium CA; "
                                    "every call is refused until a valid CRL is in place.")
        self._revoked = frozenset(r.serial_number for r in crl)
        self._stamp = stamp

    def is_revoked(self, serial: int) -> bool:
        with self._lock:
            self._reload()
            return serial in self._revoked
