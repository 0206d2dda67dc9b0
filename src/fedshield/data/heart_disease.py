"""UCI Heart Disease: four hospitals, a natural cross-silo federation.

Why reproduce FLamby exactly: Fed-Heart-Disease (du Terrail et al., NeurIPS
2022) is the reference benchmark for this data, and matching its
preprocessing and splits row for row is what makes our numbers comparable
with its tables. Steps (FLamby ``fed_heart_disease/dataset.py``): '?' is
missing; drop slope, ca, thal; drop rows still missing a value; one-hot cp
and restecg with drop_first; label = num > 0; per-site ``train_test_split``
(train_size=0.66, random_state=43, shuffle, stratified unless a class has
<= 2 rows); z-score with the site's train mean and unbiased std (+1e-9).

Deliberate differences: categories are fixed (cp 1-4, restecg 0-2) so every
site has the same 13 columns even if a category is absent there; and a
feature constant in a site's train split is only centred (FLamby divides by
1e-9). pandas is not a dependency, so parsing is done with ``csv``.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from fedshield.errors import ConfigError, DataError

from .base import FederatedDataset, SiteData
from .fetch import ensure_file, resolve_data_dir
from .preprocess import split_indices, standardize

__all__ = ["load", "read_site", "SITES", "COLUMNS", "FEATURE_NAMES", "SHA256", "SUBDIR"]

SUBDIR = "uci-heart-disease"
SITES = ("cleveland", "hungarian", "switzerland", "va")
COLUMNS = (
    "age", "sex", "cp", "trestbps", "chol", "fbs", "restecg",
    "thalach", "exang", "oldpeak", "slope", "ca", "thal", "num",
)  # fmt: skip
_NUMERIC = ("age", "sex", "trestbps", "chol", "fbs", "thalach", "exang", "oldpeak")
_ONE_HOT = {"cp": (2, 3, 4), "restecg": (1, 2)}  # categories kept after drop_first
_ALLOWED = {"cp": (1, 2, 3, 4), "restecg": (0, 1, 2)}
FEATURE_NAMES = _NUMERIC + tuple(f"{c}_{v}" for c, vs in _ONE_HOT.items() for v in vs)
_URL = "https://archive.ics.uci.edu/ml/machine-learning-databases/heart-disease/processed.{}.data"
SHA256 = {
    "cleveland": "a74b7efa387bc9d108d7d0115d831fe9b414b29ae7124f331b622b4efa0427c8",
    "hungarian": "d1ad108f785768cd3d7e82dc522e6f5a61eea93cccfb3a46ee8076f73fc3d796",
    "switzerland": "834a405ccf5b66ab4056bb77794adc8df0b7125186454c0a1d002d33c6c3b314",
    "va": "e7c93d8d0d2acdadfa4c5e8de768e2191e7f618b952e29623f1f0d5949ff6b8f",
}
TRAIN_FRACTION = 0.66
SPLIT_SEED = 43


def _parse(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """All 14 columns as float64 (NaN where the file says '?') and each row's line number."""
    rows: list[list[float]] = []
    lines: list[int] = []
    try:
        with open(path, newline="", encoding="ascii") as f:
            for line_no, fields in enumerate(csv.reader(f), start=1):
                if not fields or all(not v.strip() for v in fields):
                    continue  # blank lines carry no row (pandas skips them too)
                if len(fields) != len(COLUMNS):
                    raise DataError(
                        f"{path}, line {line_no}: expected {len(COLUMNS)} comma-separated values "
                        f"({', '.join(COLUMNS)}), found {len(fields)}. Fix or delete that line."
                    )
                row = []
                for col, raw in zip(COLUMNS, fields, strict=True):
                    v = raw.strip()
                    if v == "?":
                        row.append(math.nan)
                        continue
                    try:
                        num = float(v)
                    except ValueError:
                        num = math.nan
                    if not math.isfinite(num):
                        raise DataError(
                            f"{path}, line {line_no}, column {col!r}: {raw!r} is not a number. "
                            "Use a number, or '?' for a missing value."
                        ) from None
                    row.append(num)
                rows.append(row)
                lines.append(line_no)
    except UnicodeDecodeError as exc:
        raise DataError(f"{path} is not a plain-text CSV ({exc}). Re-download the UCI file.") from exc
    if not rows:
        raise DataError(f"{path} holds no data rows. Re-download it from {_URL.format(path.name.split('.')[1])}.")
    return np.asarray(rows, dtype=np.float64), np.asarray(lines)


def read_site(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """FLamby-preprocessed (unscaled) features (n, 13) and binary labels of one file."""
    raw, lines = _parse(path)
    col = {c: i for i, c in enumerate(COLUMNS)}
    kept = [col[c] for c in COLUMNS if c not in ("slope", "ca", "thal")]
    complete = ~np.isnan(raw[:, kept]).any(axis=1)
    if not complete.any():
        raise DataError(
            f"{path}: every row misses a value outside slope/ca/thal, so none is left after "
            "dropping incomplete rows. Check that this is a UCI 'processed' file."
        )
    data, line_of = raw[complete], lines[complete]
    for name, allowed in (*_ALLOWED.items(), ("num", (0, 1, 2, 3, 4))):
        bad = ~np.isin(data[:, col[name]], allowed)
        if bad.any():
            r = int(np.flatnonzero(bad)[0])
            raise DataError(
                f"{path}, line {int(line_of[r])}: column {name!r} holds "
                f"{float(data[r, col[name]]):g}, expected one of {list(allowed)}. Fix that value."
            )
    parts = [data[:, [col[c] for c in _NUMERIC]]]
    for name, cats in _ONE_HOT.items():
        parts.append((data[:, [col[name]]] == np.asarray(cats, dtype=np.float64)).astype(np.float64))
    x = np.concatenate(parts, axis=1)
    y = (data[:, col["num"]] > 0).astype(np.int64)
    return x, y


def _site(site_id: str, x: np.ndarray, y: np.ndarray) -> SiteData:
    # FLamby stratifies only when there are two classes with more than 2 rows each.
    tr, te = split_indices(
        y, test_size=1.0 - TRAIN_FRACTION, train_size=TRAIN_FRACTION, seed=SPLIT_SEED, stratify_min=3
    )
    x_tr, x_te = standardize(x[tr], x[te], ddof=1, eps=1e-9)
    return SiteData(site_id, x_tr, y[tr], x_te, y[te])


def load(*, data_dir, num_sites: int | None, alpha: float, seed: int, download: bool) -> FederatedDataset:
    """The four hospitals as four sites. ``alpha``/``seed`` do not apply: the split is FLamby's fixed one."""
    del alpha, seed
    if num_sites not in (None, len(SITES)):
        raise ConfigError(
            f"The 'num_sites' parameter of heart-disease must be None or {len(SITES)} "
            f"(one site per hospital: {', '.join(SITES)}). Got {num_sites!r} instead."
        )
    root = resolve_data_dir(data_dir, download=download) / SUBDIR
    sites = []
    for name in SITES:
        path = ensure_file(
            root / f"processed.{name}.data",
            url=_URL.format(name),
            sha256=SHA256[name],
            download=download,
            what=f"UCI Heart Disease file for {name}",
        )
        sites.append(_site(name, *read_site(path)))
    return FederatedDataset(
        name="heart-disease",
        sites=tuple(sites),
        input_shape=(len(FEATURE_NAMES),),
        num_classes=2,
        pooled_test=None,
        description=(
            "UCI Heart Disease, one site per hospital (Cleveland, Hungarian, Switzerland, VA), "
            "preprocessed and split exactly as FLamby Fed-Heart-Disease (740 rows, 13 inputs, "
            "1 = num > 0); each site z-scored with its own training statistics."
        ),
        feature_names=FEATURE_NAMES,
    )
