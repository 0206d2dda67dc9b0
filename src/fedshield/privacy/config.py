"""The ``[privacy]`` section of a scenario.

Why validated here rather than when training starts: a privacy option that is
wrong (a zero delta, a negative clipping norm) must stop the run before any
hospital touches its data. Checks that need the rest of the scenario (rounds,
site sizes: "is this noise enough for that budget?") run in ``attach_privacy``,
still before round 1.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class SiteBudget(BaseModel):
    """A per-site override of the default (epsilon, delta) budget."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    epsilon: float | None = Field(default=None, gt=0)
    delta: float | None = Field(default=None, gt=0, lt=1)


class AdaptiveClipping(BaseModel):
    """Andrew et al. 2021: track a quantile of update norms privately."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    enabled: bool = False
    target_quantile: float = Field(default=0.5, gt=0, lt=1)
    learning_rate: float = Field(default=0.2, gt=0)  # eta_C of the geometric update
    count_noise_multiplier: float | None = Field(default=None, gt=0)  # sigma_b; default: expected sites / 20


class PrivacyConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Literal["off", "sample", "client"] = "off"
    epsilon: float = Field(default=1.0, gt=0)
    delta: float = Field(default=1e-5, gt=0, lt=1)
    sites: dict[str, SiteBudget] = Field(default_factory=dict)
    # None: calibrated from (epsilon, delta), the rounds and the sampling rate.
    noise_multiplier: float | None = Field(default=None, gt=0)
    max_grad_norm: float = Field(default=1.0, gt=0)  # sample mode: per-example clipping
    clipping_norm: float = Field(default=0.1, gt=0)  # client mode: per-update clipping (initial if adaptive)
    adaptive_clipping: AdaptiveClipping = Field(default_factory=AdaptiveClipping)
    accountant: Literal["rdp", "pld", "prv"] = "rdp"
    secure_mode: bool = False
    noise_placement: Literal["server", "distributed"] = "server"
    # False: a noise multiplier that cannot pay for every round is refused at load
    # time. True: accepted, and each site stops training when its budget is spent.
    allow_budget_exhaustion: bool = False
    # `fedshield simulate` also runs the scenario without DP (same seed) and
    # reports the accuracy DP cost; false skips that second run.
    compare_without_dp: bool = True

    @model_validator(mode="after")
    def _coherent(self) -> PrivacyConfig:
        if self.mode == "client" and self.adaptive_clipping.enabled and self.noise_placement == "distributed":
            raise ValueError(
                "'adaptive_clipping.enabled' needs noise_placement = 'server' (the clipped-count "
                "is noised at the server); set noise_placement = 'server' or disable adaptive clipping"
            )
        return self

    def budget_of(self, site_id: str) -> tuple[float, float]:
        """(epsilon, delta) for one site: its override, else the default."""
        o = self.sites.get(site_id)
        eps = o.epsilon if o is not None and o.epsilon is not None else self.epsilon
        delta = o.delta if o is not None and o.delta is not None else self.delta
        return eps, delta
