from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from fedshield.data import list_datasets, load_dataset
from fedshield.data.fetch import download_file, ensure_file, resolve_data_dir, sha256_file
from fedshield.errors import ConfigError, DataError


def test_list_datasets() -> None:
    assert list_datasets() == ["breast-cancer", "heart-disease", "pneumonia"]


def test_unknown_name_suggests_close_match() -> None:
    with pytest.raises(ConfigError, match="Did you mean 'heart-disease'"):
        load_dataset("heart_disease")


@pytest.mark.parametrize("kwargs", [{"alpha": -1.0}, {"seed": 1.5}, {"num_sites": 0}, {"num_sites": True}])
def test_bad_common_parameters(kwargs: dict) -> None:
    with pytest.raises(ConfigError, match="parameter of load_dataset"):
        load_dataset("breast-cancer", **kwargs)


def test_resolve_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEDSHIELD_DATA_DIR", str(tmp_path / "env"))
    assert resolve_data_dir(tmp_path / "arg", download=False) == tmp_path / "arg"
    assert resolve_data_dir(None, download=False) == tmp_path / "env"
    monkeypatch.delenv("FEDSHIELD_DATA_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert resolve_data_dir(None, download=True) == tmp_path / "cache" / "fedshield" / "data"
    with pytest.raises(DataError, match="--data-dir.*FEDSHIELD_DATA_DIR"):
        resolve_data_dir(None, download=False)


def test_shared_checksums_match(shared_data_dir: Path) -> None:
    from fedshield.data import heart_disease, pneumonia

    for site, digest in heart_disease.SHA256.items():
        assert sha256_file(shared_data_dir / heart_disease.SUBDIR / f"processed.{site}.data") == digest
    assert sha256_file(shared_data_dir / pneumonia.SUBDIR / pneumonia.FILENAME) == pneumonia.SHA256_SUBSET


def _source(tmp_path: Path) -> tuple[str, str]:
    src = tmp_path / "src.bin"
    src.write_bytes(b"hello fedshield" * 1000)
    return src.as_uri(), hashlib.sha256(src.read_bytes()).hexdigest()


def test_download_verifies_and_writes_atomically(tmp_path: Path) -> None:
    url, digest = _source(tmp_path)
    dest = tmp_path / "out" / "file.bin"
    assert download_file(url, dest, sha256=digest) == dest
    assert sha256_file(dest) == digest
    assert [p.name for p in dest.parent.iterdir()] == ["file.bin"]  # no temp file left


def test_checksum_mismatch_leaves_nothing(tmp_path: Path) -> None:
    url, _ = _source(tmp_path)
    dest = tmp_path / "out" / "file.bin"
    with pytest.raises(DataError, match="sha256 is .* expected 0+"):
        download_file(url, dest, sha256="0" * 64)
    assert list(dest.parent.iterdir()) == []


def test_download_failure_is_data_error(tmp_path: Path) -> None:
    dest = tmp_path / "out" / "file.bin"
    with pytest.raises(DataError, match="Could not download"):
        download_file((tmp_path / "absent").as_uri(), dest, sha256=None)
    assert list(dest.parent.iterdir()) == []


def test_ensure_file_downloads_only_when_asked(tmp_path: Path) -> None:
    url, digest = _source(tmp_path)
    dest = tmp_path / "d" / "f.bin"
    with pytest.raises(DataError, match="not found"):
        ensure_file(dest, url=url, sha256=digest, download=False, what="test file")
    assert not dest.exists()
    assert ensure_file(dest, url=url, sha256=digest, download=True, what="test file").is_file()
