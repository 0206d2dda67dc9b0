"""Label-skewed partitioning of one pooled dataset over simulated sites.

Why Dirichlet: real hospitals differ most visibly in case mix (a referral
centre sees far more positives). Drawing each class's site proportions from
Dir(alpha) (Hsu et al., 2019) is the standard way to simulate that: small
alpha gives strong skew, large alpha approaches IID. The function is pure and
seeded so a scenario file reproduces the exact same federation.
"""

from __future__ import annotations

import numpy as np

from fedshield.errors import ConfigError, DataError

from .validation import check_alpha, check_min_per_site, check_num_sites, check_seed

__all__ = ["dirichlet_label_split"]

_MAX_TRIES = 1000


def dirichlet_label_split(
    labels: np.ndarray,
    *,
    num_sites: int,
    alpha: float,
    seed: int,
    min_per_site: int = 10,
) -> list[np.ndarray]:
    """Split row indices ``0..len(labels)-1`` over ``num_sites`` sites.

    Every index lands in exactly one site; each site's indices come back
    sorted. Draws that leave a site with fewer than ``min_per_site`` rows are
    redrawn (so tiny sites cannot stall local training); the redraws come from
    the same seeded generator, so the result stays deterministic.
    """
    owner = "dirichlet_label_split"
    num_sites = check_num_sites(num_sites, owner)
    alpha = check_alpha(alpha, owner)
    seed = check_seed(seed, owner)
    min_per_site = check_min_per_site(min_per_site, owner)
    labels = np.asarray(labels).ravel()
    n = labels.shape[0]
    if n == 0:
        raise DataError("dirichlet_label_split got no labels; the dataset to split is empty.")
    if num_sites * min_per_site > n:
        raise ConfigError(
            f"Cannot give {num_sites} sites at least {min_per_site} rows each from {n} rows. "
            "Lower num_sites or min_per_site."
        )

    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    by_class = [np.flatnonzero(labels == c) for c in classes]
    for _ in range(_MAX_TRIES):
        parts: list[list[np.ndarray]] = [[] for _ in range(num_sites)]
        for idx in by_class:
            idx = rng.permutation(idx)
            props = rng.dirichlet(np.full(num_sites, alpha))
            # Sites already holding a fair share (n / K) take no more rows
            # (the NIID-Bench trick, Li et al. 2022): it keeps draws with
            # small alpha from starving sites, so far fewer get rejected.
            full = np.array([sum(c.size for c in p) >= n / num_sites for p in parts])
            if not full.all():
                props = np.where(full, 0.0, props)
                total = props.sum()
                props = props / total if total > 0 else (~full) / (~full).sum()
            cuts = (np.cumsum(props)[:-1] * idx.shape[0]).astype(np.int64)
            for site, chunk in enumerate(np.split(idx, cuts)):
                parts[site].append(chunk)
        sites = [np.sort(np.concatenate(p)) for p in parts]
        if min(s.shape[0] for s in sites) >= min_per_site:
            return sites
    raise ConfigError(
        f"No Dirichlet draw with alpha={alpha} gave every one of {num_sites} sites at least "
        f"{min_per_site} rows in {_MAX_TRIES} tries. Raise alpha, or lower num_sites or min_per_site."
    )
