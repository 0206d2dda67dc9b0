"""Ed25519 key files for the coordinator that signs tree heads.

Why so strict: whoever holds the private key can sign a rewritten history, so
key files are created 0600 (never readable by group/others) and loading a
key that others can read fails closed, the way OpenSSH treats identity files.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from fedshield.errors import ConfigError, SecurityError, param_error

__all__ = [
    "generate_signing_key",
    "load_signing_key",
    "load_public_key",
    "as_public_key",
    "public_key_bytes",
    "key_fingerprint",
]

PublicKeyLike = Ed25519PublicKey | Ed25519PrivateKey | bytes | str | os.PathLike


def _write_new(path: Path, data: bytes, mode: int, *, overwrite: bool) -> None:
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
    try:
        fd = os.open(path, flags, mode)
    except FileExistsError:
        raise ConfigError(
            f"Key file {str(path)!r} already exists; refusing to overwrite a signing key. "
            "Load it with load_signing_key() or pass overwrite=True."
        ) from None
    with os.fdopen(fd, "wb") as fh:
        os.fchmod(fh.fileno(), mode)  # O_CREAT's mode is masked by umask and ignored for existing files
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def generate_signing_key(path: str | os.PathLike, *, overwrite: bool = False) -> Ed25519PrivateKey:
    """Create a coordinator key at ``path`` (PKCS#8 PEM, 0600) and ``path.pub`` (0644)."""
    path = Path(path)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    _write_new(path, pem, 0o600, overwrite=overwrite)
    pub = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    _write_new(Path(f"{path}.pub"), pub, 0o644, overwrite=True)
    return key


def load_signing_key(path: str | os.PathLike, *, password: bytes | None = None) -> Ed25519PrivateKey:
    """Load a coordinator key, refusing files that group or others can read."""
    path = Path(path)
    try:
        st = path.stat()
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"Signing key {str(path)!r} does not exist; create one with "
            "fedshield.ledger.generate_signing_key(path)."
        ) from None
    if os.name == "posix" and st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SecurityError(
            f"Signing key {str(path)!r} is accessible by group/others (mode {stat.S_IMODE(st.st_mode):o}); "
            f"run `chmod 600 {path}` and rotate the key if others may have read it."
        )
    try:
        key = serialization.load_pem_private_key(data, password=password)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"Could not read signing key {str(path)!r}: {exc}. Expected a PKCS#8 PEM file.") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"Signing key {str(path)!r} is a {type(key).__name__}; FedShield ledgers use Ed25519.")
    return key


def load_public_key(path: str | os.PathLike) -> Ed25519PublicKey:
    """Load an auditor's pinned public key (SubjectPublicKeyInfo PEM)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"Public key {str(path)!r} does not exist; pass the coordinator's .pub file.") from None
    return as_public_key(data)


def as_public_key(key: PublicKeyLike) -> Ed25519PublicKey:
    """Accept a key object, 32 raw bytes, PEM bytes or a PEM file path."""
    if isinstance(key, Ed25519PublicKey):
        return key
    if isinstance(key, Ed25519PrivateKey):
        return key.public_key()
    if isinstance(key, bytes):
        if len(key) == 32:
            return Ed25519PublicKey.from_public_bytes(key)
        try:
            loaded = serialization.load_pem_public_key(key)
        except ValueError as exc:
            raise ConfigError(f"Could not parse the public key: {exc}. Pass an Ed25519 PEM or 32 raw bytes.") from None
        if not isinstance(loaded, Ed25519PublicKey):
            raise ConfigError(f"Public key is a {type(loaded).__name__}; FedShield ledgers use Ed25519.")
        return loaded
    if isinstance(key, (str, os.PathLike)):
        return load_public_key(key)
    raise param_error("public_key", "the ledger", "an Ed25519 key, raw bytes, PEM bytes or a path", key)


def public_key_bytes(key: PublicKeyLike) -> bytes:
    return as_public_key(key).public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_fingerprint(key: PublicKeyLike) -> str:
    """SHA-256 of the raw public key, hex: what operators compare out of band."""
    return hashlib.sha256(public_key_bytes(key)).hexdigest()
