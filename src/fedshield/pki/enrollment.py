"""Sybil-resistant enrollment: an identity is admitted only when m of the n
consortium administrators signed its record (identity, role, certificate
fingerprint, legal entity).

Records live in an append-only JSON-lines file; each line carries the hash of
the previous line, so editing, dropping or reordering a line breaks the chain.
One legal entity gets one identity and each identity one certificate: a second
certificate for an enrolled institution is refused as a Sybil.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from fedshield.errors import AuthorizationError, ConfigError, SecurityError, VerificationError, param_error
from fedshield.pki._files import write_private, write_public

GENESIS = "0" * 64
_BODY = ("identity", "role", "cert_fingerprint", "key_fingerprint", "legal_entity", "created")


def _canon(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def record_body(identity: str, role: str, cert_fingerprint: str, key_fingerprint: str, legal_entity: str,
                created: float | None = None) -> dict[str, Any]:
    return {"identity": identity, "role": role, "cert_fingerprint": cert_fingerprint,
            "key_fingerprint": key_fingerprint, "legal_entity": legal_entity,
            "created": round(created if created is not None else time.time(), 3)}


def body_for(cert, legal_entity: str) -> dict[str, Any]:
    """The record an administrator is asked to sign for ``cert``."""
    from fedshield.pki.identity import identity_of

    ident = identity_of(cert)
    return record_body(ident.subject_id, ident.role, ident.fingerprint, ident.key_fingerprint, legal_entity)


def _signed_bytes(body: dict[str, Any]) -> bytes:
    return b"fedshield-enrollment-v1\x00" + _canon({k: body[k] for k in _BODY})


def sign_body(body: dict[str, Any], admin_id: str, key: Ed25519PrivateKey) -> dict[str, str]:
    return {"admin": admin_id, "sig": base64.b64encode(key.sign(_signed_bytes(body))).decode()}


# --- administrators -------------------------------------------------------

def create_admins(ca_dir: str | Path, n: int, m: int) -> list[Path]:
    """Write n admin keys (0600) and ``admins.json`` (public keys + threshold m).

    In production each administrator generates their own key; this helper is
    for pilots and tests.
    """
    if not 1 <= m <= n:
        raise param_error("threshold", "create_admins", f"an int in [1, {n}]", m)
    ca_dir = Path(ca_dir)
    public, paths = {}, []
    for i in range(1, n + 1):
        key = Ed25519PrivateKey.generate()
        path = ca_dir / "admins" / f"admin{i}.key"
        write_private(path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()))
        public[f"admin{i}"] = key.public_key().public_bytes(serialization.Encoding.Raw,
                                                            serialization.PublicFormat.Raw).hex()
        paths.append(path)
    write_public(ca_dir / "admins.json", json.dumps({"threshold": m, "admins": public}, indent=2).encode())
    return paths


def load_admin_key(path: str | Path) -> tuple[str, Ed25519PrivateKey]:
    key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"{str(path)!r} is not an Ed25519 administrator key.")
    return Path(path).stem, key


@dataclass(frozen=True)
class Admins:
    threshold: int
    keys: dict[str, Ed25519PublicKey]

    @classmethod
    def load(cls, path: str | Path) -> Admins:
        try:
            raw = json.loads(Path(path).read_text())
            keys = {a: Ed25519PublicKey.from_public_bytes(bytes.fromhex(h)) for a, h in raw["admins"].items()}
            m = int(raw["threshold"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"Cannot read the administrators file {str(path)!r} ({exc}); it must be the "
                              "admins.json written by `fedshield ca init --admins N --threshold M`.") from None
        if not 1 <= m <= len(keys):
            raise ConfigError(f"{str(path)!r}: threshold {m} must be between 1 and the {len(keys)} admins.")
        return cls(m, keys)

    def count_valid(self, body: dict[str, Any], signatures: list[dict[str, str]]) -> int:
        seen: set[str] = set()
        for s in signatures:
            admin = s.get("admin")
            if admin in seen or admin not in self.keys:
                continue
            try:
                self.keys[admin].verify(base64.b64decode(s.get("sig", "")), _signed_bytes(body))
            except (InvalidSignature, ValueError):
                continue
            seen.add(admin)
        return len(seen)


# --- the registry ----------------------------------------------------------

class EnrollmentRegistry:
    """Verified view of the registry file; re-verified whenever it changes."""

    def __init__(self, path: str | Path, admins: Admins):
        self.path, self.admins = Path(path), admins
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._by_identity: dict[str, dict[str, Any]] = {}
        self._head = GENESIS

    def _load(self) -> None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            if self._stamp is None and not self._by_identity:
                return
            raise SecurityError(f"The enrollment registry {str(self.path)!r} disappeared; calls are refused.")
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp == self._stamp:
            return
        by_id, entities, head = {}, {}, GENESIS
        for n, line in enumerate(self.path.read_text().splitlines(), 1):
            where = f"{self.path}:{n}"
            try:
                entry = json.loads(line)
                body = {k: entry[k] for k in _BODY}
            except (ValueError, KeyError, TypeError):
                raise VerificationError(f"{where} is not a valid enrollment record; the registry was tampered "
                                        "with or corrupted. Restore it from a trusted copy.") from None
            if entry.get("prev") != head:
                raise VerificationError(f"{where}: hash chain broken (prev {entry.get('prev')!r} != {head!r}); "
                                        "a record was edited, removed or reordered.")
            have = self.admins.count_valid(body, entry.get("signatures", []))
            if have < self.admins.threshold:
                raise VerificationError(f"{where}: {have} valid administrator signatures, "
                                        f"{self.admins.threshold} required.")
            if body["identity"] in by_id or entities.get(body["legal_entity"], body["identity"]) != body["identity"]:
                raise VerificationError(f"{where}: {body['legal_entity']!r} / {body['identity']!r} is already "
                                        "enrolled; one identity per institution (Sybil refused).")
            entities[body["legal_entity"]] = body["identity"]
            by_id[body["identity"]] = body
            head = hashlib.sha256(_canon(entry)).hexdigest()
        self._by_identity, self._head, self._stamp = by_id, head, stamp

    def verify(self) -> str:
        """Verify every record; returns the head hash (what admins should pin)."""
        with self._lock:
            self._stamp = None
            self._load()
            return self._head

    def append(self, body: dict[str, Any], signatures: list[dict[str, str]]) -> str:
        with self._lock:
            self._stamp = None
            self._load()
            have = self.admins.count_valid(body, signatures)
            if have < self.admins.threshold:
                raise VerificationError(f"The enrollment of {body['identity']!r} has {have} valid administrator "
                                        f"signatures; {self.admins.threshold} are required.")
            if body["identity"] in self._by_identity:
                raise AuthorizationError(f"{body['identity']!r} is already enrolled; one certificate per "
                                         "institution (revoke and re-enroll to rotate).")
            if any(b["legal_entity"] == body["legal_entity"] for b in self._by_identity.values()):
                raise AuthorizationError(f"The legal entity {body['legal_entity']!r} already has an identity; "
                                         "a second one would be a Sybil.")
            entry = {**body, "signatures": signatures, "prev": self._head}
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(entry, sort_keys=True) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            self._stamp = None
            self._load()
            return self._head

    def check(self, identity: str, role: str, cert_fingerprint: str, key_fingerprint: str = "") -> None:
        """Admit only the enrolled key of an enrolled identity (the enrolled
        certificate, or a renewal of it by the CA for the same key)."""
        with self._lock:
            self._load()
            rec = self._by_identity.get(identity)
        if rec is None:
            raise AuthorizationError(f"{identity!r} is not enrolled in the consortium registry; ask "
                                     f"{self.admins.threshold} administrators to sign its enrollment.")
        if rec["cert_fingerprint"] != cert_fingerprint and rec["key_fingerprint"] != key_fingerprint:
            raise AuthorizationError(f"{identity!r} is enrolled with another key; a second certificate "
                                     "for an enrolled institution is refused (Sybil). Renew with "
                                     "`fedshield ca issue --renew-key` to keep the enrolled key.")
        if rec["role"] != role:
            raise AuthorizationError(f"{identity!r} is enrolled as {rec['role']!r}, not {role!r}.")
