"""Locate data files, and download them only when the user opts in.

Why opt-in: FedShield runs inside hospital networks where an unexpected
outbound request is a policy violation, so nothing is fetched unless
``download=True``. Downloads are verified by sha256 where the checksum is
known and written via a temp file + ``os.replace`` so an interrupted
transfer never leaves a half-written file that later loads as garbage.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from fedshield.errors import DataError

__all__ = ["DATA_DIR_ENV", "resolve_data_dir", "sha256_file", "download_file", "ensure_file"]

DATA_DIR_ENV = "FEDSHIELD_DATA_DIR"
_CHUNK = 1 << 20


def _default_download_dir() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "fedshield" / "data"


def resolve_data_dir(data_dir: str | os.PathLike[str] | None, *, download: bool) -> Path:
    """Explicit argument, else ``$FEDSHIELD_DATA_DIR``, else (download only) a user cache.

    No implicit ``../shared/data``: guessing from the current directory would
    silently load different data depending on where a command is run.
    """
    if data_dir is not None:
        return Path(data_dir).expanduser()
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env).expanduser()
    if download:
        return _default_download_dir()
    raise DataError(
        "No data directory given. Pass data_dir=... (CLI: --data-dir PATH) or set the "
        f"{DATA_DIR_ENV} environment variable to the folder holding the dataset files; "
        "or pass download=True (CLI: --download) to fetch the public files."
    )


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def download_file(url: str, dest: Path, *, sha256: str | None, timeout: float = 60.0) -> Path:
    """Fetch ``url`` to ``dest`` atomically; ``sha256=None`` skips verification."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        h = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310
            for chunk in iter(lambda: resp.read(_CHUNK), b""):
                h.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        digest = h.hexdigest()
        if sha256 is not None and digest != sha256:
            raise DataError(
                f"Downloaded {url} but its sha256 is {digest}, expected {sha256}. The file was "
                f"discarded; retry, or download it by hand into {dest.parent}."
            )
        os.replace(tmp, dest)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise DataError(
            f"Could not download {url} to {dest}: {exc}. Check the network, or download the "
            f"file by hand and place it at {dest}."
        ) from exc
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def ensure_file(
    path: Path, *, url: str, sha256: str | None, download: bool, what: str
) -> Path:
    """Return ``path`` if present; download it if allowed; else say how to get it."""
    if path.is_file():
        return path
    if download:
        return download_file(url, path, sha256=sha256)
    raise DataError(
        f"{what} not found at {path}. Download it from {url} into {path.parent}, "
        f"or pass download=True (CLI: --download); point data_dir (CLI: --data-dir) or "
        f"{DATA_DIR_ENV} at the folder that holds it."
    )
