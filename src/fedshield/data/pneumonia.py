"""PneumoniaMNIST (MedMNIST v2) chest X-rays, split over simulated hospitals.

Why this layout: the canonical 624-image test split is kept whole as
``pooled_test`` so global-model accuracy compares directly with the MedMNIST
v2 benchmark table. The training split is spread over sites with Dirichlet
label skew, and each site holds out a seeded, stratified 15% of its own
share as its local test set, so local evaluation sees the same case mix as
local training (as a hospital's own validation would). The canonical
``val`` split is checked but not used: it stays free for model selection.

Checksums: the copy in the shared data folder is a subset of the canonical
training split (3,882 of 4,708 images), with its own sha256 (``SHA256_SUBSET``).
The canonical Zenodo file differs and its sha256 is not pinned here, so a
``download=True`` fetch is *not* checksum-verified; its structure is still
fully validated on load.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from fedshield.errors import DataError

from .base import FederatedDataset, SiteData
from .fetch import ensure_file, resolve_data_dir
from .partition import dirichlet_label_split
from .preprocess import site_seed, split_indices
from .validation import check_array, check_binary_labels, check_finite, check_npz_keys

__all__ = ["load", "read_npz", "SUBDIR", "FILENAME", "URL", "SHA256_SUBSET", "SPLITS"]

SUBDIR = "pneumoniamnist"
FILENAME = "pneumoniamnist.npz"
URL = "https://zenodo.org/records/10519652/files/pneumoniamnist.npz"
SHA256_SUBSET = "a554d2332488d3ddc075125e66a1af77ec379fd2bafc09108ab95a37e2bd9c26"
SPLITS = ("train", "val", "test")
DEFAULT_NUM_SITES = 5
TEST_FRACTION = 0.15
MIN_PER_SITE = 10


def _images(arr: np.ndarray, name: str, path: Path) -> np.ndarray:
    check_array(arr, name=name, path=path, tail=(28, 28), kinds="uif")
    if arr.dtype.kind == "f":
        check_finite(arr, name=name, source=path)
        if arr.min() < 0 or arr.max() > 1:
            raise DataError(
                f"{path}: float array {name!r} has values in [{arr.min()}, {arr.max()}], "
                "expected [0, 1] (or uint8 0-255). Rescale the images."
            )
        out = arr.astype(np.float32)
    else:
        if arr.min() < 0 or arr.max() > 255:
            raise DataError(f"{path}: array {name!r} has pixel values outside 0-255; expected uint8 images.")
        out = arr.astype(np.float32) / np.float32(255.0)
    return out[:, None, :, :]


def _labels(arr: np.ndarray, name: str, path: Path, n: int) -> np.ndarray:
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    check_array(arr, name=name, path=path, tail=(), kinds="uif")
    if arr.shape[0] != n:
        raise DataError(
            f"{path}: {name!r} has {arr.shape[0]} labels but the matching images array has {n} "
            "images. The file is corrupt; re-download it."
        )
    check_finite(arr, name=name, source=path)
    check_binary_labels(arr, name=name, source=path)
    return arr.astype(np.int64)


def read_npz(path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Validated ``{split: (images (N,1,28,28) float32 in [0,1], labels int64)}``."""
    required = tuple(f"{s}_{k}" for s in SPLITS for k in ("images", "labels"))
    try:
        with np.load(path, allow_pickle=False) as npz:
            check_npz_keys(npz.files, required, path)
            raw = {k: npz[k] for k in required}
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        if isinstance(exc, DataError):
            raise
        raise DataError(
            f"{path} is not a readable .npz archive ({exc}). Delete it and re-download "
            f"(download=True) or fetch {URL} by hand."
        ) from exc
    out = {}
    for s in SPLITS:
        x = _images(raw[f"{s}_images"], f"{s}_images", path)
        out[s] = (x, _labels(raw[f"{s}_labels"], f"{s}_labels", path, x.shape[0]))
    return out


def load(*, data_dir, num_sites: int | None, alpha: float, seed: int, download: bool) -> FederatedDataset:
    """Dirichlet(alpha) split of the train images over ``num_sites`` sites."""
    k = DEFAULT_NUM_SITES if num_sites is None else num_sites
    path = ensure_file(
        resolve_data_dir(data_dir, download=download) / SUBDIR / FILENAME,
        url=URL,
        sha256=None,  # canonical file's checksum differs from the shared subset's; see module doc
        download=download,
        what="PneumoniaMNIST archive",
    )
    data = read_npz(path)
    x, y = data["train"]
    parts = dirichlet_label_split(y, num_sites=k, alpha=alpha, seed=seed, min_per_site=MIN_PER_SITE)
    sites = []
    for i, rows in enumerate(parts):
        tr, te = split_indices(y[rows], test_size=TEST_FRACTION, seed=site_seed(seed, i))
        sites.append(SiteData(f"site-{i}", x[rows][tr], y[rows][tr], x[rows][te], y[rows][te]))
    return FederatedDataset(
        name="pneumonia",
        sites=tuple(sites),
        input_shape=(1, 28, 28),
        num_classes=2,
        pooled_test=data["test"],
        description=(
            f"PneumoniaMNIST (MedMNIST v2, 28x28 chest X-rays, 1 = pneumonia): {x.shape[0]} training "
            f"images over {k} sites with Dirichlet label skew alpha={alpha}, seed={seed}; each site "
            f"holds out 15% as its local test set; pooled_test is the canonical "
            f"{data['test'][0].shape[0]}-image test split."
        ),
        feature_names=None,
    )
