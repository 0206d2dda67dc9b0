"""Name -> loader registry behind :func:`load_dataset`.

Why a registry: scenario files and the CLI name datasets by string, and one
table keeps the accepted names, their validation and the error listing the
alternatives in a single place.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable

from fedshield.errors import ConfigError

from . import breast_cancer, heart_disease, pneumonia
from .base import FederatedDataset
from .validation import check_alpha, check_num_sites, check_seed

__all__ = ["load_dataset", "list_datasets", "LOADERS"]

Loader = Callable[..., FederatedDataset]

LOADERS: dict[str, Loader] = {
    "breast-cancer": breast_cancer.load,
    "heart-disease": heart_disease.load,
    "pneumonia": pneumonia.load,
}


def list_datasets() -> list[str]:
    return sorted(LOADERS)


def load_dataset(
    name: str,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    num_sites: int | None = None,
    alpha: float = 0.5,
    seed: int = 0,
    download: bool = False,
) -> FederatedDataset:
    """Load ``name`` as per-site train/test splits.

    Files are looked up under ``data_dir``, else ``$FEDSHIELD_DATA_DIR``;
    nothing is downloaded unless ``download=True``. ``num_sites``, ``alpha``
    and ``seed`` shape the simulated federations (breast-cancer, pneumonia);
    heart-disease has its four real hospitals and FLamby's fixed split.
    """
    owner = "load_dataset"
    loader = LOADERS.get(name) if isinstance(name, str) else None
    if loader is None:
        close = difflib.get_close_matches(str(name), LOADERS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(
            f"The 'name' parameter of {owner} must be one of {list_datasets()}. Got {name!r} instead.{hint}"
        )
    if num_sites is not None:
        num_sites = check_num_sites(num_sites, owner)
    return loader(
        data_dir=data_dir,
        num_sites=num_sites,
        alpha=check_alpha(alpha, owner),
        seed=check_seed(seed, owner),
        download=bool(download),
    )
