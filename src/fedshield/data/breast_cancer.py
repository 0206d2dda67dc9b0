"""Wisconsin Diagnostic Breast Cancer, split over simulated hospitals.

Why this dataset: it ships inside scikit-learn, so quick-starts and CI smoke
tests run with no download at all. Labels are flipped from scikit-learn's
(0 = malignant) to 1 = malignant so that, as in every FedShield dataset,
1 means "disease present".

Why federation-wide scaling here (heart-disease keeps FLamby's per-site
z-score): under strong label skew a site holding only malignant tumours that
centres on its own mean erases the very signal that separates the classes.
The federation's mean and std are what the sites obtain from a secure sum of
their row counts, sums and sums of squares; no row leaves a site.
"""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_breast_cancer

from .base import FederatedDataset, SiteData
from .partition import dirichlet_label_split
from .preprocess import federated_moments, site_seed, split_indices

__all__ = ["load", "DEFAULT_NUM_SITES", "TEST_FRACTION", "MIN_PER_SITE"]

DEFAULT_NUM_SITES = 5
TEST_FRACTION = 0.25
MIN_PER_SITE = 10


def load(*, data_dir=None, num_sites: int | None, alpha: float, seed: int, download: bool) -> FederatedDataset:
    """Dirichlet(alpha) label skew over ``num_sites`` sites; 75/25 seeded split per site.

    ``data_dir`` and ``download`` are accepted for a uniform registry API and
    ignored: the data is bundled with scikit-learn.
    """
    del data_dir, download
    k = DEFAULT_NUM_SITES if num_sites is None else num_sites
    bunch = load_breast_cancer()
    x = np.asarray(bunch.data, dtype=np.float64)
    y = (np.asarray(bunch.target) == 0).astype(np.int64)  # 1 = malignant
    parts = dirichlet_label_split(y, num_sites=k, alpha=alpha, seed=seed, min_per_site=MIN_PER_SITE)
    splits = [split_indices(y[rows], test_size=TEST_FRACTION, seed=site_seed(seed, i)) for i, rows in enumerate(parts)]
    mean, scale = federated_moments([x[rows][tr] for rows, (tr, _) in zip(parts, splits, strict=True)])
    sites = []
    for i, (rows, (tr, te)) in enumerate(zip(parts, splits, strict=True)):
        x_tr = ((x[rows][tr] - mean) / scale).astype(np.float32)
        x_te = ((x[rows][te] - mean) / scale).astype(np.float32)
        sites.append(SiteData(f"site-{i}", x_tr, y[rows][tr], x_te, y[rows][te]))
    return FederatedDataset(
        name="breast-cancer",
        sites=tuple(sites),
        input_shape=(x.shape[1],),
        num_classes=2,
        pooled_test=None,
        description=(
            f"Wisconsin Diagnostic Breast Cancer (569 rows, 30 features, 1 = malignant) over {k} "
            f"simulated sites, Dirichlet label skew alpha={alpha}, seed={seed}; per-site 75/25 "
            "split, features standardized with the federation's training mean and std (a secure sum of "
            "per-site moments)."
        ),
        feature_names=tuple(str(n) for n in bunch.feature_names),
    )
