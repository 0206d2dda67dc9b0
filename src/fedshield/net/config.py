"""``server.toml`` and ``site.toml``: validated at load time, unknown keys refused,
relative paths resolved against the file's own folder (so a deployment folder
can be moved as a whole)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from fedshield.config import _describe, read_toml
from fedshield.errors import ConfigError


class _S(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _loopback_or_host(v: str) -> str:
    if ":" not in v:
        raise ValueError("must be host:port, e.g. 127.0.0.1:50051")
    return v


class TLSConfig(_S):
    ca_cert: str
    cert: str
    key: str


class ConsortiumConfig(_S):
    crl: str
    admins: str
    registry: str


class LedgerConfig(_S):
    path: str
    signing_key: str


class ServerSection(_S):
    address: str = "127.0.0.1:50051"
    scenario: str
    sites: list[str] = Field(min_length=1)
    rounds: int | None = Field(default=None, ge=1)
    min_sites: int | None = Field(default=None, ge=1)
    input_shape: list[int] | None = None
    data_dir: str | None = None
    join_timeout_s: float = Field(default=120.0, gt=0, le=86_400)
    round_timeout_s: float = Field(default=120.0, gt=0, le=86_400)
    eval_timeout_s: float = Field(default=60.0, gt=0, le=86_400)
    dead_after_s: float = Field(default=30.0, gt=0, le=3_600)
    state_dir: str = "server-state"
    max_message_mb: int = Field(default=64, ge=1, le=2000)
    chunk_bytes: int = Field(default=1 << 20, ge=1024, le=64 << 20)
    rate_per_s: float = Field(default=200.0, gt=0)
    autostart: bool = True
    central_test: bool = False  # score the dataset's central test split (needs data_dir), as the simulation does
    stream_aggregate: bool = False  # running weighted sum: O(d) server memory; plain mean only

    _addr = field_validator("address")(classmethod(lambda cls, v: _loopback_or_host(v)))


class ServerHeConfig(_S):
    """The consortium's public CKKS key (``public.ckks.json`` from `fedshield he-keys`)."""

    public_key: str


class ServerFile(_S):
    server: ServerSection
    tls: TLSConfig
    consortium: ConsortiumConfig
    rbac: dict[str, str] = Field(default_factory=dict)
    ledger: LedgerConfig | None = None
    he: ServerHeConfig | None = None


class SiteSection(_S):
    id: str
    server: str = "127.0.0.1:50051"
    scenario: str
    data_dir: str | None = None
    poll_s: float = Field(default=5.0, gt=0, le=30)
    give_up_s: float = Field(default=120.0, gt=0, le=86_400)
    backoff_base_s: float = Field(default=0.2, gt=0)
    backoff_max_s: float = Field(default=5.0, gt=0)
    chunk_bytes: int = Field(default=1 << 20, ge=1024, le=64 << 20)
    max_message_mb: int = Field(default=64, ge=1, le=2000)

    _addr = field_validator("server")(classmethod(lambda cls, v: _loopback_or_host(v)))


class WitnessConfig(_S):
    """The site's check of the coordinator's audit log (``ledger.gossip.WitnessedSite``)."""

    coordinator_key: str  # the coordinator's ledger public key (PEM), obtained out of band
    witness_state: str  # where the last head seen is kept across restarts (JSON, written atomically)


class SiteHeConfig(_S):
    """This site's CKKS secret key, sealed to its certificate (``<site>.ckks-key.json``)."""

    sealed_key: str


class SiteFile(_S):
    site: SiteSection
    tls: TLSConfig
    audit: WitnessConfig | None = None
    he: SiteHeConfig | None = None


_PATH_KEYS = {"scenario", "data_dir", "state_dir", "ca_cert", "cert", "key", "crl", "admins", "registry",
              "policy", "path", "signing_key", "coordinator_key", "witness_state", "public_key", "sealed_key"}


def _resolve(obj: Any, base: Path) -> Any:
    if isinstance(obj, dict):
        return {k: (str((base / v).resolve()) if k in _PATH_KEYS and isinstance(v, str) else _resolve(v, base))
                for k, v in obj.items()}
    return obj


def _load(path: str | Path, model: type[_S], what: str):
    p = Path(path)
    raw = read_toml(p, label=f"The {what} config", hint="See examples/deploy/ for one.")
    try:
        return model.model_validate(_resolve(raw, p.parent.resolve()))
    except ValidationError as exc:
        raise ConfigError(f"Invalid {what} config {str(p)!r}: {'; '.join(_describe(e) for e in exc.errors())}.") from None


def load_server_config(path: str | Path) -> ServerFile:
    return _load(path, ServerFile, "server")


def load_site_config(path: str | Path) -> SiteFile:
    return _load(path, SiteFile, "site")


def read_key_file(path: str, *, section: str, fix: str) -> str:
    """The text of a key file a config names; a missing one is a ConfigError that says where it comes from."""
    try:
        return Path(path).read_text()
    except FileNotFoundError:
        raise ConfigError(f"{section} {path!r} does not exist; {fix}") from None
