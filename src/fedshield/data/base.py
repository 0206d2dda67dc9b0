"""The two containers every loader returns.

Why frozen dataclasses of plain numpy arrays: the round engine, the privacy
accountant and the reports all consume the same shapes, and nothing downstream
should be able to rebind a site's data by accident. Arrays are *not* copied on
access; treat them as read-only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["SiteData", "FederatedDataset"]


@dataclass(frozen=True)
class SiteData:
    """One site's local train/test split (features float32, labels int64)."""

    site_id: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    @property
    def num_train(self) -> int:
        return int(self.y_train.shape[0])

    @property
    def num_test(self) -> int:
        return int(self.y_test.shape[0])


@dataclass(frozen=True)
class FederatedDataset:
    """A federation: sites plus the metadata a model builder needs.

    ``pooled_test`` holds a canonical central test split where the benchmark
    defines one (so results compare with published tables); when it is
    ``None``, callers evaluate on the concatenation of the site test splits
    (see :meth:`pooled_test_or_concat`).
    """

    name: str
    sites: tuple[SiteData, ...]
    input_shape: tuple[int, ...]
    num_classes: int
    pooled_test: tuple[np.ndarray, np.ndarray] | None
    description: str
    feature_names: tuple[str, ...] | None = None

    @property
    def num_sites(self) -> int:
        return len(self.sites)

    @property
    def site_ids(self) -> tuple[str, ...]:
        return tuple(s.site_id for s in self.sites)

    def site(self, site_id: str) -> SiteData:
        for s in self.sites:
            if s.site_id == site_id:
                return s
        raise KeyError(f"No site {site_id!r} in dataset {self.name!r}; sites are {list(self.site_ids)}.")

    def pooled_test_or_concat(self) -> tuple[np.ndarray, np.ndarray]:
        """The canonical test split, else every site's test split stacked."""
        if self.pooled_test is not None:
            return self.pooled_test
        return (
            np.concatenate([s.x_test for s in self.sites]),
            np.concatenate([s.y_test for s in self.sites]),
        )
