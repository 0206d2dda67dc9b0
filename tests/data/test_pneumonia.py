from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fedshield.data import load_dataset
from fedshield.data.pneumonia import read_npz
from fedshield.errors import DataError


@pytest.fixture(scope="module")
def pneu(shared_data_dir: Path):
    return load_dataset("pneumonia", data_dir=shared_data_dir, seed=1)


def test_shapes_range_and_pooled_test(pneu) -> None:
    assert pneu.input_shape == (1, 28, 28) and pneu.num_sites == 5 and pneu.num_classes == 2
    xt, yt = pneu.pooled_test
    assert xt.shape == (624, 1, 28, 28) and np.bincount(yt).tolist() == [234, 390]
    for s in pneu.sites:
        assert s.x_train.dtype == np.float32 and s.x_train.shape[1:] == (1, 28, 28)
        assert 0.0 <= s.x_train.min() and s.x_train.max() <= 1.0
        assert s.y_train.dtype == np.int64 and s.num_train >= 1 and s.num_test >= 1
    assert sum(s.num_train + s.num_test for s in pneu.sites) == 3882


def test_local_test_is_about_15_percent(pneu) -> None:
    for s in pneu.sites:
        assert abs(s.num_test / (s.num_train + s.num_test) - 0.15) < 0.02


def test_determinism(shared_data_dir: Path, pneu) -> None:
    same = load_dataset("pneumonia", data_dir=shared_data_dir, seed=1)
    other = load_dataset("pneumonia", data_dir=shared_data_dir, seed=2)
    assert all(np.array_equal(a.y_train, b.y_train) for a, b in zip(pneu.sites, same.sites, strict=True))
    assert [s.num_train for s in other.sites] != [s.num_train for s in pneu.sites]


def test_num_sites(shared_data_dir: Path) -> None:
    assert load_dataset("pneumonia", data_dir=shared_data_dir, num_sites=3).num_sites == 3


def _npz(tmp_path: Path, drop: str | None = None, **override: np.ndarray) -> Path:
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in (("train", 40), ("val", 10), ("test", 12)):
        arrays[f"{split}_images"] = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        arrays[f"{split}_labels"] = (np.arange(n) % 2).astype(np.uint8).reshape(n, 1)
    arrays.update(override)
    arrays.pop(drop, None)
    root = tmp_path / "pneumoniamnist"
    root.mkdir(exist_ok=True)
    np.savez(root / "pneumoniamnist.npz", **arrays)
    return root / "pneumoniamnist.npz"


def test_small_valid_file_loads(tmp_path: Path) -> None:
    _npz(tmp_path)
    ds = load_dataset("pneumonia", data_dir=tmp_path, num_sites=2)
    assert ds.pooled_test[0].shape == (12, 1, 28, 28)


def test_missing_key(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"lacks the array\(s\) \['test_labels'\]"):
        read_npz(_npz(tmp_path, drop="test_labels"))


def test_nan_images(tmp_path: Path) -> None:
    imgs = np.full((40, 28, 28), 0.5, dtype=np.float32)
    imgs[7, 3, 3] = np.nan
    with pytest.raises(DataError, match=r"NaN or infinite values in 1 row\(s\), first at row\(s\) \[7\]"):
        read_npz(_npz(tmp_path, train_images=imgs))


def test_wrong_shape(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"'val_images' has shape \(10, 32, 32\), expected \(N, 28, 28\)"):
        read_npz(_npz(tmp_path, val_images=np.zeros((10, 32, 32), dtype=np.uint8)))


def test_non_binary_labels(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="binary labels"):
        read_npz(_npz(tmp_path, test_labels=np.full((12, 1), 3, dtype=np.uint8)))


def test_label_count_mismatch(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="11 labels but the matching images array has 12"):
        read_npz(_npz(tmp_path, test_labels=np.zeros((11, 1), dtype=np.uint8)))


def test_corrupt_archive(tmp_path: Path) -> None:
    p = tmp_path / "pneumoniamnist.npz"
    p.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(DataError, match="not a readable .npz archive"):
        read_npz(p)


def test_missing_file_says_where_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="zenodo.org.*download=True.*--data-dir.*FEDSHIELD_DATA_DIR"):
        load_dataset("pneumonia", data_dir=tmp_path)
