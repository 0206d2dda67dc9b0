"""How attackers enter a simulated federation: a poisoned site and a colluding transport.

Why the transport: omniscient attacks need every honest update of the round
before they can craft theirs. ``AdversarialTransport`` asks the real
transport first, then rewrites only the malicious sites' answers; evaluation
passes through untouched, so the server sees exactly what a network would
carry.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from fedshield.data import SiteData
from fedshield.messages import EvaluateIns, FitIns, FitRes, SiteFailure
from fedshield.redteam.crafters import Crafter, RoundView


class PoisonedSite:
    """A site that trains on poisoned data from ``from_round`` on (data poisoning)."""

    def __init__(self, site, *, poisoned: SiteData, from_round: int):
        self.site = site
        self.site_id = site.site_id
        self.clean = site.data
        self.poisoned = poisoned
        self.from_round = from_round

    def fit(self, ins: FitIns) -> FitRes:
        self.site.data = self.poisoned if ins.round_num >= self.from_round else self.clean
        try:
            return self.site.fit(ins)
        finally:
            self.site.data = self.clean

    def evaluate(self, ins: EvaluateIns):
        return self.site.evaluate(ins)


class AdversarialTransport:
    """Wraps a transport; from ``from_round`` on, colluders replace their updates with crafted ones."""

    def __init__(self, inner, *, malicious: Sequence[str], crafter: Crafter, from_round: int,
                 server_lr: float, seed: int):
        self.inner = inner
        self.malicious = frozenset(malicious)
        self.crafter = crafter
        self.from_round = from_round
        self.server_lr = server_lr
        self.seed = seed

    def __getattr__(self, name):  # e.g. InMemoryTransport.delivered
        return getattr(self.inner, name)

    def site_ids(self) -> list[str]:
        return self.inner.site_ids()

    def evaluate(self, site_ids, ins):
        return self.inner.evaluate(site_ids, ins)

    def fit(self, site_ids: Sequence[str], ins: FitIns) -> list[FitRes | SiteFailure]:
        answers = list(self.inner.fit(site_ids, ins))
        if ins.round_num < self.from_round:
            return answers
        dim = int(np.asarray(ins.parameters).shape[0])
        slots = [k for k, a in enumerate(answers) if isinstance(a, FitRes) and np.shape(a.delta) == (dim,)]
        mal_rows = [j for j, k in enumerate(slots) if answers[k].site_id in self.malicious]
        if not mal_rows:
            return answers
        view = RoundView(
            benign=np.stack([np.asarray(answers[k].delta, dtype=np.float64) for k in slots]),
            malicious_rows=mal_rows,
            weights=np.array([answers[k].num_examples for k in slots], dtype=np.float64),
            round_num=ins.round_num,
            server_lr=self.server_lr,
            rng=np.random.default_rng([self.seed, ins.round_num, 0xBAD]),
        )
        crafted = self.crafter(view)
        for row, update in zip(mal_rows, crafted, strict=True):
            k = slots[row]
            answers[k] = dataclasses.replace(answers[k], delta=np.asarray(update, dtype=np.float32))
        return answers
