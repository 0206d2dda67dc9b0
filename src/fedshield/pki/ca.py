"""The consortium root CA and the certificates it issues.

ECDSA P-256 rather than Ed25519: gRPC's BoringSSL negotiates P-256 client and
server certificates everywhere, while Ed25519 certificates are not accepted by
every gRPC build. The identity lives in SAN URIs (``fedshield://site/<id>``,
``fedshield://role/<role>``) so it cannot be confused with a DNS name, and
lifetimes are short (hours to days) so a leaked key ages out quickly.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from fedshield.errors import ConfigError, SecurityError, param_error
from fedshield.pki._files import write_private, write_public

ROLES = ("coordinator", "site", "auditor", "observer", "server")
ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
CA_CERT, CA_KEY, CRL = "ca.crt", "ca.key", "crl.pem"


@dataclass(frozen=True)
class IssuedPaths:
    cert: Path
    key: Path


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def init_ca(ca_dir: str | Path, *, name: str = "FedShield Consortium Root", days: int = 365,
            overwrite: bool = False) -> Path:
    ca_dir = Path(ca_dir)
    if (ca_dir / CA_KEY).exists() and not overwrite:
        raise ConfigError(f"A CA already exists in {str(ca_dir)!r}; pick another --dir or remove it "
                          "deliberately (every issued certificate would become invalid).")
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = _now()
    cert = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    write_private(ca_dir / CA_KEY, _key_pem(key))
    write_public(ca_dir / CA_CERT, cert.public_bytes(serialization.Encoding.PEM))
    from fedshield.pki.revocation import write_crl
    write_crl(ca_dir, [])
    return ca_dir


def load_ca(ca_dir: str | Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    ca_dir = Path(ca_dir)
    try:
        cert = x509.load_pem_x509_certificate((ca_dir / CA_CERT).read_bytes())
        key = serialization.load_pem_private_key((ca_dir / CA_KEY).read_bytes(), password=None)
    except FileNotFoundError:
        raise ConfigError(f"No CA in {str(ca_dir)!r}; run `fedshield ca init --dir {ca_dir}` first.") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise SecurityError(f"The CA key in {str(ca_dir)!r} is not an ECDSA key; re-create the CA.")
    return cert, key


def issue_certificate(
    ca_dir: str | Path, *, identity: str, role: str, out_dir: str | Path | None = None,
    hours: float = 72.0, hosts: tuple[str, ...] = (), not_before: dt.datetime | None = None,
    renew_key: str | Path | None = None,
) -> IssuedPaths:
    """Issue a leaf certificate; ``hosts`` (DNS names or IPs) only for the server.

    ``renew_key`` re-certifies an existing key: enrollment pins the key, so a
    short-lived certificate can be renewed without a new m-of-n enrollment,
    while a certificate for a *new* key of an enrolled institution is a Sybil.
    """
    if role not in ROLES:
        raise param_error("role", "issue_certificate", f"one of {list(ROLES)}", role)
    if not ID_RE.match(identity):
        raise param_error("site", "issue_certificate", "lowercase letters, digits, '.', '_' or '-' (max 63)",
                          identity)
    if not 0 < hours <= 24 * 90:
        raise param_error("hours", "issue_certificate", "a lifetime in (0, 2160] hours", hours)
    ca_cert, ca_key = load_ca(ca_dir)
    if renew_key is not None:
        key = serialization.load_pem_private_key(Path(renew_key).read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ConfigError(f"{str(renew_key)!r} is not an ECDSA P-256 key issued by `fedshield ca issue`.")
    else:
        key = ec.generate_private_key(ec.SECP256R1())
    start = not_before or (_now() - dt.timedelta(minutes=5))
    sans: list[x509.GeneralName] = [
        x509.UniformResourceIdentifier(f"fedshield://{'server' if role == 'server' else 'site'}/{identity}"),
        x509.UniformResourceIdentifier(f"fedshield://role/{role}"),
    ]
    for h in hosts:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            sans.append(x509.DNSName(h))
    usage = [ExtendedKeyUsageOID.SERVER_AUTH] if role == "server" else [ExtendedKeyUsageOID.CLIENT_AUTH]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, identity),
                                 x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, role)]))
        .issuer_name(ca_cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(start + dt.timedelta(hours=hours))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usage), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    out = Path(out_dir) if out_dir is not None else Path(ca_dir) / "issued"
    paths = IssuedPaths(out / f"{identity}.crt", out / f"{identity}.key")
    if renew_key is None or Path(renew_key).resolve() != paths.key.resolve():
        write_private(paths.key, _key_pem(key))
    write_public(paths.cert, cert.public_bytes(serialization.Encoding.PEM))
    return paths
