"""Medical datasets as federations: per-site train/test splits.

``load_dataset(name, data_dir=...)`` returns a :class:`FederatedDataset`;
see :func:`list_datasets` for the names. Site data never mixes: splitting
and standardization happen per site, so no statistic leaks across sites.
"""

from __future__ import annotations

from .base import FederatedDataset, SiteData
from .fetch import DATA_DIR_ENV
from .partition import dirichlet_label_split
from .registry import list_datasets, load_dataset

__all__ = [
    "DATA_DIR_ENV",
    "FederatedDataset",
    "SiteData",
    "dirichlet_label_split",
    "list_datasets",
    "load_dataset",
]
