"""Crafters bind the pure attack math to one round's updates.

Why objects: a crafter is called once per round by the adversarial transport
with every benign update of the round and the rows the colluders own, and a
few attacks (mimic) carry state from round to round.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fedshield.redteam import craft
from fedshield.redteam import params as P


@dataclass
class RoundView:
    """What colluders see in one round: all benign updates and which rows are theirs."""

    benign: np.ndarray  # (n, d) float64, the updates sites computed honestly (or on poisoned data)
    malicious_rows: list[int]
    weights: np.ndarray  # (n,) example counts
    round_num: int
    server_lr: float
    rng: np.random.Generator

    @property
    def honest_rows(self) -> list[int]:
        mal = set(self.malicious_rows)
        return [i for i in range(self.benign.shape[0]) if i not in mal]

    def known(self, knowledge: str) -> np.ndarray:
        """Omniscient colluders see every benign update; others only their own."""
        rows = range(self.benign.shape[0]) if knowledge == "omniscient" else self.malicious_rows
        return self.benign[list(rows)]

    def repeat(self, update: np.ndarray) -> np.ndarray:
        return np.repeat(np.asarray(update)[None], len(self.malicious_rows), axis=0)


class Crafter:
    def __call__(self, view: RoundView) -> np.ndarray:  # (m, d)
        raise NotImplementedError


@dataclass
class SignFlipCrafter(Crafter):
    p: P.SignFlip

    def __call__(self, view):
        return np.stack([craft.sign_flip(view.benign[r], scale=self.p.scale) for r in view.malicious_rows])


@dataclass
class GaussianCrafter(Crafter):
    p: P.Gaussian

    def __call__(self, view):
        d = view.benign.shape[1]
        return np.stack([craft.gaussian(dim=d, sigma=self.p.sigma, rng=view.rng) for _ in view.malicious_rows])


@dataclass
class AlieCrafter(Crafter):
    p: P.Alie

    def __call__(self, view):
        n, m = view.benign.shape[0], len(view.malicious_rows)
        z = self.p.z if self.p.z is not None else craft.alie_z(num_sites=n, num_malicious=m)
        return view.repeat(craft.alie(view.known(self.p.knowledge), z=z))


@dataclass
class IpmCrafter(Crafter):
    p: P.Ipm

    def __call__(self, view):
        seen = view.benign[view.honest_rows] if self.p.knowledge == "omniscient" and view.honest_rows else (
            view.known("colluders"))
        return view.repeat(craft.ipm(seen, epsilon=self.p.epsilon))


@dataclass
class MinMaxCrafter(Crafter):
    p: P.MinMax
    objective: str = "min_max"

    def __call__(self, view):
        fn = craft.min_max if self.objective == "min_max" else craft.min_sum
        seen = view.known(self.p.knowledge)
        return view.repeat(fn(seen, kind=self.p.perturbation, gamma_init=self.p.gamma_init))


@dataclass
class MimicCrafter(Crafter):
    p: P.Mimic
    direction: np.ndarray | None = None
    target: str | int | None = None
    rounds_seen: int = 0

    def __call__(self, view):
        honest = view.honest_rows or view.malicious_rows
        h = view.benign[honest]
        self.rounds_seen += 1
        if self.target is None or self.rounds_seen <= self.p.warmup:
            self.direction = craft.mimic_direction(h, previous=self.direction, rng=view.rng)
            self.target = craft.mimic_target(h, direction=self.direction)
        idx = min(int(self.target), h.shape[0] - 1)  # sampling can shrink the honest set
        return view.repeat(h[idx])


@dataclass
class FangCrafter(Crafter):
    p: P.Fang

    def __call__(self, view):
        return craft.fang_trim(view.benign, num_malicious=len(view.malicious_rows), rng=view.rng, b=self.p.b)


@dataclass
class ReplacementCrafter(Crafter):
    p: P.ModelReplacement

    def __call__(self, view):
        scale = self.p.scale or craft.replacement_scale(
            total_weight=float(view.weights.sum()),
            malicious_weight=float(view.weights[view.malicious_rows].sum()),
            server_lr=view.server_lr,
        )
        return np.stack([scale * view.benign[r] for r in view.malicious_rows])


@dataclass
class SybilCrafter(Crafter):
    p: P.Sybil

    def __call__(self, view):
        base = view.benign[view.malicious_rows[0]]
        out = view.repeat(base)
        if self.p.jitter > 0:
            rms = float(np.sqrt(np.mean(base**2))) or 1.0
            out = out + view.rng.normal(0.0, self.p.jitter * rms, size=out.shape)
        return out
