"""The round engine's privacy stage: refuse what a budget cannot pay, report spend.

Why refuse before the round rather than stop after: a site's budget is a promise
to its patients; the gate asks each site's accountant "and after this round?"
and a site that would go over does not train. The engine records the reason and
ends the run cleanly when too few sites remain.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fedshield.privacy.accountants import Accountant


@dataclass
class SiteLedger:
    """One site's budget, its accountant and what one round costs it."""

    accountant: Accountant
    epsilon_budget: float
    delta: float
    noise_multiplier: float
    sample_rate: float
    steps_per_round: int


class BudgetGate:
    """``PrivacyGate`` (see fedshield.server.engine) over per-site accountants.

    In "sample" mode the DP-SGD trainer at the site records its own steps (the
    ledger shares its accountant); in "client" mode this gate records a round for
    every site still in the federation, sampled or not, as subsampling
    amplification requires.
    """

    def __init__(self, *, mode: str, ledgers: dict[str, SiteLedger]):
        self.mode = mode
        self.ledgers = ledgers
        self.exhausted: set[str] = set()
        self.epsilon_by_round: dict[str, list[float | None]] = {sid: [] for sid in ledgers}
        self.rounds: list[int] = []
        self.refusals: dict[int, dict[str, str]] = {}

    def _epsilon_after_round(self, ledger: SiteLedger) -> float:
        return ledger.accountant.epsilon_after(
            delta=ledger.delta, noise_multiplier=ledger.noise_multiplier,
            sample_rate=ledger.sample_rate, steps=ledger.steps_per_round)

    def admit(self, site_ids: list[str], round_num: int) -> tuple[list[str], dict[str, str]]:
        admitted, refused = [], {}
        for sid in site_ids:
            ledger = self.ledgers.get(sid)
            if ledger is None:
                admitted.append(sid)
                continue
            after = self._epsilon_after_round(ledger)
            if sid in self.exhausted or after > ledger.epsilon_budget * (1 + 1e-9):
                self.exhausted.add(sid)
                refused[sid] = (
                    f"privacy budget: round {round_num} would bring epsilon to {after:.4g}, over the site's budget "
                    f"epsilon={ledger.epsilon_budget:g} at delta={ledger.delta:g}; it spent "
                    f"{ledger.accountant.get_epsilon(delta=ledger.delta):.4g} so far"
                )
            else:
                admitted.append(sid)
        if self.mode == "client":  # a site over budget stops being charged: it no longer takes part
            for sid, ledger in self.ledgers.items():
                if sid not in site_ids and self._epsilon_after_round(ledger) > ledger.epsilon_budget * (1 + 1e-9):
                    self.exhausted.add(sid)
        if refused:
            self.refusals[round_num] = dict(refused)
        return admitted, refused

    def account(self, participants: list[str], round_num: int) -> dict[str, Any]:
        if self.mode == "client":
            for sid, ledger in self.ledgers.items():
                if sid not in self.exhausted:
                    ledger.accountant.step(noise_multiplier=ledger.noise_multiplier,
                                           sample_rate=ledger.sample_rate, steps=ledger.steps_per_round)
        epsilon = {sid: round(ledger.accountant.get_epsilon(delta=ledger.delta), 6)
                   for sid, ledger in self.ledgers.items()}
        self.rounds.append(round_num)
        for sid, eps in epsilon.items():
            self.epsilon_by_round[sid].append(eps)
        return {
            "mode": self.mode,
            "accountant": next(iter(self.ledgers.values())).accountant.mechanism if self.ledgers else None,
            "epsilon": epsilon,
            "delta": {sid: ledger.delta for sid, ledger in self.ledgers.items()},
            "exhausted": sorted(self.exhausted),
        }
