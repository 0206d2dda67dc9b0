"""Wisconsin Diagnostic Breast Cancer, split over simulated hospitals.

Why this dataset: it ships inside scikit-learn, so quick-starts and CI smoke
tests run with no download at all. Labels are flipped from scikit-learn's
(0 = malignant) to 1 = malignant so that, as in every FedShield dataset,
1 means "disease present".
"""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_breast_cancer

from .base import FederatedDataset, SiteData
from .partition import dirichlet_label_split
from .preprocess import site_seed, split_indices, standardize

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
    sites = []
    for i, rows in enumerate(parts):
        tr, te = split_indices(y[rows], test_size=TEST_FRACTION, seed=site_seed(seed, i))
        x_tr, x_te = standardize(x[rows][tr], x[rows][te])
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
            "split, features standardized with each site's own training statistics."
        ),
        feature_names=tuple(str(n) for n in bunch.feature_names),
    )
