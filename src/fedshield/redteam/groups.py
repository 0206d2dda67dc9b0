"""The semantic backdoor's target group on heart disease: women over 55.

Why re-read the raw files: the loader z-scores every column with each site's
own training statistics and keeps no raw values, so "55 years" has a
different z per hospital. Re-reading the UCI rows and replaying the loader's
own split gives raw age and sex row for row, aligned with each site's arrays.
"""

from __future__ import annotations

import numpy as np

from fedshield.data import heart_disease
from fedshield.data.fetch import resolve_data_dir
from fedshield.data.preprocess import split_indices
from fedshield.errors import ConfigError

GroupMasks = dict[str, tuple[np.ndarray, np.ndarray]]


def heart_group_masks(*, data_dir, sex: int = 0, min_age: float = 55.0) -> GroupMasks:
    """{site_id: (train_mask, test_mask)} of patients of ``sex`` (0 = female) older than ``min_age``."""
    root = resolve_data_dir(data_dir, download=False) / heart_disease.SUBDIR
    names = heart_disease.FEATURE_NAMES
    i_age, i_sex = names.index("age"), names.index("sex")
    out: GroupMasks = {}
    for site in heart_disease.SITES:
        path = root / f"processed.{site}.data"
        if not path.is_file():
            raise ConfigError(
                f"The semantic backdoor needs the raw heart-disease file {str(path)!r}; set data.data_dir."
            )
        x, y = heart_disease.read_site(path)
        tr, te = split_indices(
            y, test_size=1.0 - heart_disease.TRAIN_FRACTION, train_size=heart_disease.TRAIN_FRACTION,
            seed=heart_disease.SPLIT_SEED, stratify_min=3,
        )
        member = (x[:, i_sex] == sex) & (x[:, i_age] > min_age)
        out[site] = (member[tr], member[te])
    return out
