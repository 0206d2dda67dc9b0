"""Registered aggregator objects: parameters, state and tags over the pure kernels."""

from __future__ import annotations

import numpy as np

from fedshield.aggregation import kernels as K
from fedshield.aggregation._numeric import all_finite
from fedshield.aggregation._validation import (
    as_reference,
    check_client_ids,
    check_int,
    check_positive_float,
    raise_nonfinite,
)
from fedshield.aggregation.base import Aggregator, RuleTags, register_aggregator

__all__ = [
    "WeightedMean",
    "CoordinateMedian",
    "TrimmedMean",
    "Krum",
    "MultiKrum",
    "Bulyan",
    "GeometricMedian",
    "CenteredClipping",
    "FLTrust",
    "FoolsGold",
    "FLAME",
]


def _rng(rng: np.random.Generator | None, own: np.random.Generator) -> np.random.Generator:
    return rng if rng is not None else own


@register_aggregator
class WeightedMean(Aggregator):
    """FedAvg: example-count-weighted mean. Not robust; the baseline."""

    name = "mean"
    tags = RuleTags(uses_weights=True, robust=False)

    def __init__(self) -> None:
        pass

    def _aggregate(self, x, w, **_):
        return K.weighted_mean(x, w)


@register_aggregator
class CoordinateMedian(Aggregator):
    """Coordinate-wise median (even n: mean of the two middle values)."""

    name = "median"

    def __init__(self) -> None:
        pass

    def _aggregate(self, x, w, **_):
        return K.coordinate_median(x)


class _WithF(Aggregator):
    factor, offset = 2, 1  # min_updates = factor * f + offset

    def __init__(self, *, f: int) -> None:
        self.f = check_int(f, name="f", owner=type(self).__name__, minimum=0)

    def min_updates(self) -> int:
        return self.factor * self.f + self.offset

    def requirement(self) -> str:
        return f"{self.factor}f + {self.offset}"


@register_aggregator
class TrimmedMean(_WithF):
    """Coordinate-wise mean after trimming f values at each end; needs n > 2f."""

    name = "trimmed_mean"

    def _aggregate(self, x, w, **_):
        return K.trimmed_mean(x, f=self.f)


@register_aggregator
class Krum(_WithF):
    """The update with the smallest Krum score; needs n >= 2f + 3."""

    name = "krum"
    offset = 3

    def _aggregate(self, x, w, **_):
        return K.krum(x, f=self.f)


@register_aggregator
class MultiKrum(_WithF):
    """Mean of the m best-scored updates (m = n - f by default); needs n >= 2f + 3."""

    name = "multi_krum"
    offset = 3

    def __init__(self, *, f: int, m: int | None = None) -> None:
        super().__init__(f=f)
        self.m = None if m is None else check_int(m, name="m", owner="MultiKrum", minimum=1)

    def min_updates(self) -> int:
        return max(super().min_updates(), self.m or 0)

    def requirement(self) -> str:
        return "max(2f + 3, m)" if self.m else "2f + 3"

    def _aggregate(self, x, w, **_):
        return K.multi_krum(x, f=self.f, m=self.m)


@register_aggregator
class Bulyan(_WithF):
    """Recursive Krum selection + coordinate-wise trimmed average; needs n >= 4f + 3."""

    name = "bulyan"
    factor, offset = 4, 3

    def _aggregate(self, x, w, **_):
        return K.bulyan(x, f=self.f)


@register_aggregator
class GeometricMedian(Aggregator):
    """RFA: weighted geometric median by smoothed Weiszfeld (uses the example counts)."""

    name = "geometric_median"
    tags = RuleTags(uses_weights=True)

    def __init__(self, *, max_iter: int = 100, ftol: float = 1e-6, nu_l2: float = 1e-6) -> None:
        self.max_iter = check_int(max_iter, name="max_iter", owner="GeometricMedian", minimum=0)
        self.ftol = check_positive_float(ftol, name="ftol", owner="GeometricMedian", allow_zero=True)
        self.nu_l2 = check_positive_float(nu_l2, name="nu_l2", owner="GeometricMedian")

    def _aggregate(self, x, w, **_):
        if not w.sum() > 0:
            w = np.ones_like(w)
        return K.geometric_median(x, w, max_iter=self.max_iter, ftol=self.ftol, nu_l2=self.nu_l2)


@register_aggregator
class CenteredClipping(Aggregator):
    """Centered clipping around the previous aggregate (momentum), else the median.

    Stateful: with ``use_previous`` the last output is the next round's centre,
    as in the paper (which clips around the server momentum).
    """

    name = "centered_clipping"
    tags = RuleTags(stateful=True)

    def __init__(self, *, tau_l2: float | None = None, n_iter: int = 3, use_previous: bool = True) -> None:
        owner = "CenteredClipping"
        self.tau_l2 = None if tau_l2 is None else check_positive_float(tau_l2, name="tau_l2", owner=owner)
        self.n_iter = check_int(n_iter, name="n_iter", owner=owner, minimum=1)
        self.use_previous = bool(use_previous)
        self._previous: np.ndarray | None = None

    def reset(self) -> None:
        self._previous = None

    def _aggregate(self, x, w, **_):
        centre = self._previous
        if centre is not None and centre.shape != (x.shape[1],):
            centre = None  # the model changed shape: start again from the median
        out = K.centered_clipping(x, tau_l2=self.tau_l2, n_iter=self.n_iter, centre=centre)
        if self.use_previous:
            self._previous = out.copy()
        return out


@register_aggregator
class FLTrust(Aggregator):
    """Trust = ReLU(cosine to the server's root update); needs ``reference``."""

    name = "fltrust"
    tags = RuleTags(needs_reference=True)

    def __init__(self) -> None:
        pass

    def _aggregate(self, x, w, *, reference, **_):
        return K.fltrust(x, reference=as_reference(reference, x.shape[1], owner="FLTrust"))


@register_aggregator
class FoolsGold(Aggregator):
    """Down-weights clients whose update histories look alike (sybils).

    Stateful: keeps each client's running sum of updates keyed by client id
    (memory: one (d,) float32 vector per client ever seen). Not a defence
    against a lone large-norm attacker; pair it with norm bounding or ARC.
    """

    name = "foolsgold"
    tags = RuleTags(robust=False, stateful=True, needs_client_ids=True)

    def __init__(self, *, kappa: float = 1.0) -> None:
        self.kappa = check_positive_float(kappa, name="kappa", owner="FoolsGold")
        self._history: dict[str, np.ndarray] = {}

    def reset(self) -> None:
        self._history = {}

    def _aggregate(self, x, w, *, client_ids, **_):
        ids = check_client_ids(client_ids, x.shape[0], owner="FoolsGold")
        if not all_finite(x):
            raise_nonfinite(x, owner="FoolsGold")
        hist = np.empty_like(x)
        for i, cid in enumerate(ids):
            prev = self._history.get(cid)
            if prev is not None and prev.shape == x[i].shape:
                np.add(prev, x[i], out=hist[i])
            else:
                hist[i] = x[i]
        out = K.foolsgold(x, histories=hist, kappa=self.kappa)
        for i, cid in enumerate(ids):
            self._history[cid] = hist[i].copy()
        return out


@register_aggregator
class FLAME(Aggregator):
    """HDBSCAN majority cluster + median-norm clipping + Gaussian noise (seeded)."""

    name = "flame"
    tags = RuleTags(exact_identity=False, randomized=True)

    def __init__(self, *, noise_lambda: float = 0.001, seed: int | None = None) -> None:
        self.noise_lambda = check_positive_float(noise_lambda, name="noise_lambda", owner="FLAME", allow_zero=True)
        self.seed = seed
        self._own_rng = np.random.default_rng(seed)

    def min_updates(self) -> int:
        return 3

    def _aggregate(self, x, w, *, rng, **_):
        return K.flame(x, noise_lambda=self.noise_lambda, rng=_rng(rng, self._own_rng))
