"""Install a PrivacyConfig on a built federation, checking it against the scenario.

Why here and not in the pydantic model: whether a noise multiplier pays for a
budget depends on the rounds, the local steps and each site's size, which only
the built federation knows. Everything is still checked before round 1.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

from pydantic import ValidationError

from fedshield.errors import ConfigError
from fedshield.privacy.accountants import create_accountant
from fedshield.privacy.analysis import epsilon as epsilon_of
from fedshield.privacy.calibration import find_noise_multiplier
from fedshield.privacy.client_dp import DistributedNoiseTransform, DPFedAvgAggregator
from fedshield.privacy.config import PrivacyConfig
from fedshield.privacy.gate import BudgetGate, SiteLedger
from fedshield.privacy.noise import NOT_FOR_PRODUCTION, GaussianNoise
from fedshield.privacy.sample_dp import DPSGDTrainer, check_model_supported, poisson_sample_rate


def validate_privacy(raw: dict[str, Any] | PrivacyConfig) -> PrivacyConfig:
    """A dict (a scenario's [privacy] table) to a PrivacyConfig, errors naming the key."""
    if isinstance(raw, PrivacyConfig):
        return raw
    try:
        return PrivacyConfig.model_validate(raw)
    except ValidationError as exc:
        parts = []
        for e in exc.errors():
            key = ".".join(["privacy", *(str(p) for p in e["loc"])])
            parts.append(f"the {key!r} key: {e['msg']}. Got {e.get('input')!r} instead")
        raise ConfigError(f"Invalid privacy configuration: {'; '.join(parts)}.") from None


def _warn(summary_warnings: list[str], message: str) -> None:
    summary_warnings.append(message)
    warnings.warn(message, stacklevel=3)


def _sites_per_round(federation) -> int:
    sc = federation.scenario
    n = len(federation.sites)
    return min(n, max(sc.server.min_fit_sites, math.ceil(sc.server.fraction_fit * n)))


def _noise_for(cfg: PrivacyConfig, *, eps: float, delta: float, sample_rate: float, steps_per_round: int,
               rounds: int, who: str) -> float:
    """The calibrated noise, or the configured one after checking it can pay for the run."""
    total = steps_per_round * rounds
    if cfg.noise_multiplier is None:
        return find_noise_multiplier(target_epsilon=eps, delta=delta, sample_rate=sample_rate, steps=total,
                                     accountant=cfg.accountant)
    z = cfg.noise_multiplier
    one_round = epsilon_of([(z, sample_rate, steps_per_round)], delta=delta, accountant=cfg.accountant)
    whole = epsilon_of([(z, sample_rate, total)], delta=delta, accountant=cfg.accountant)
    if one_round > eps or (whole > eps and not cfg.allow_budget_exhaustion):
        needed = find_noise_multiplier(target_epsilon=eps, delta=delta, sample_rate=sample_rate, steps=total,
                                       accountant=cfg.accountant)
        span = "even one round" if one_round > eps else f"all {rounds} rounds"
        raise ConfigError(
            f"The 'privacy.noise_multiplier' key ({z:g}) is too small for {who}'s budget epsilon={eps:g}, "
            f"delta={delta:g}: {span} would spend epsilon={one_round if one_round > eps else whole:.4g}. "
            f"Use noise_multiplier >= {needed:.4g}, remove the key to calibrate it, or set "
            "privacy.allow_budget_exhaustion = true to let sites stop when their budget is spent."
        )
    return z


def attach_privacy(federation, config: PrivacyConfig | dict | None = None) -> None:
    """Install DP on ``federation`` (from ``build_federation``) in place; a no-op when mode is "off"."""
    cfg = validate_privacy(config if config is not None else getattr(federation.scenario, "privacy", PrivacyConfig()))
    if cfg.mode == "off":
        return
    sc = federation.scenario
    notes: list[str] = []
    if not cfg.secure_mode:
        _warn(notes, NOT_FOR_PRODUCTION)
    ledgers: dict[str, SiteLedger] = {}
    info: dict[str, Any] = {"mode": cfg.mode, "accountant": cfg.accountant, "secure_mode": cfg.secure_mode,
                            "rounds_planned": sc.rounds, "config": cfg.model_dump(mode="json")}
    if cfg.mode == "sample":
        _attach_sample(federation, cfg, ledgers, info, notes)
    else:
        _attach_client(federation, cfg, ledgers, info, notes)
    gate = BudgetGate(mode=cfg.mode, ledgers=ledgers)
    gate.info, gate.warnings = info, notes
    federation.stages.privacy = gate


def _attach_sample(federation, cfg, ledgers, info, notes) -> None:
    check_model_supported(federation.model_factory())
    sc = federation.scenario
    per_site = {}
    for site in federation.sites:
        tc = site.train_config
        if tc.proximal_mu > 0:
            raise ConfigError("The 'client.proximal_mu' key must be 0 with privacy.mode = 'sample': DP-SGD clips "
                              "per-example gradients and would silently drop the FedProx term. Set it to 0.")
        n = site.data.num_train
        eps, delta = cfg.budget_of(site.site_id)
        if delta >= 1.0 / n:
            _warn(notes, f"site {site.site_id!r}: delta={delta:g} >= 1/N = 1/{n} records: a mechanism that "
                         "publishes one record outright would meet it; use delta < 1/N")
        q = poisson_sample_rate(num_records=n, batch_size=tc.batch_size)
        z = _noise_for(cfg, eps=eps, delta=delta, sample_rate=q, steps_per_round=tc.local_steps,
                       rounds=sc.rounds, who=f"site {site.site_id!r}")
        acct = create_accountant(cfg.accountant)
        site.local_trainer = DPSGDTrainer(site_id=site.site_id, accountant=acct, noise_multiplier=z,
                                          max_grad_norm=cfg.max_grad_norm, sample_rate=q, epsilon_budget=eps,
                                          delta=delta, secure_mode=cfg.secure_mode)
        ledgers[site.site_id] = SiteLedger(acct, eps, delta, z, q, tc.local_steps)
        per_site[site.site_id] = {"records": n, "sample_rate": q, "expected_batch_size": n * q,
                                  "noise_multiplier": z, "noise_std": z * cfg.max_grad_norm,
                                  "steps_per_round": tc.local_steps}
    info["mechanism"] = ("DP-SGD (Opacus): Poisson sampling, per-example gradient clipping, Gaussian noise; "
                         "record-level guarantee per hospital")
    info["clipping"] = {"max_grad_norm": cfg.max_grad_norm}
    info["noise"] = per_site


def _attach_client(federation, cfg, ledgers, info, notes) -> None:
    sc = federation.scenario
    num_sites = len(federation.sites)
    m = _sites_per_round(federation)
    q = m / num_sites
    deltas = {s.site_id: cfg.budget_of(s.site_id) for s in federation.sites}
    if min(d for _, d in deltas.values()) >= 1.0 / num_sites:
        _warn(notes, f"delta >= 1/N for N = {num_sites} sites: client-level DP protects whole sites, so delta "
                     "should be below 1/number of sites")
    z = max(_noise_for(cfg, eps=e, delta=d, sample_rate=q, steps_per_round=1, rounds=sc.rounds,
                       who=f"site {sid!r}") for sid, (e, d) in deltas.items())
    if q < 1:
        notes.append("sites are sampled as a fixed-size subset; the accountant treats this as Poisson sampling "
                     f"at rate {q:.3g} (the usual approximation)")
    noise_seed = [sc.seed, 0xD9]
    ad = cfg.adaptive_clipping
    inner_name = getattr(sc.aggregation, "name", "mean")
    if inner_name != "mean" or getattr(sc.aggregation, "pre", []):
        _warn(notes, f"aggregator {inner_name!r}: the DP noise is calibrated to the mean's sensitivity (C/n); "
                     "a robust aggregator can move further when one site changes, so the guarantee is proven "
                     "only for aggregation.name = 'mean'")
    if cfg.noise_placement == "distributed":
        for i, site in enumerate(federation.sites):
            noise = GaussianNoise(secure=cfg.secure_mode, seed=None if cfg.secure_mode else [*noise_seed, i + 1])
            site.transforms.insert(0, DistributedNoiseTransform(  # before any secure-aggregation masking
                noise_multiplier=z, clipping_norm=cfg.clipping_norm, sites_per_round=m, noise=noise))
        notes.append(f"distributed noise assumes {m} site(s) answer each round; fewer answers mean less noise "
                     "than accounted (see noise.sites per round in the privacy history)")
    count_z = (ad.count_noise_multiplier or m / 20.0) if ad.enabled else None
    wrapper = DPFedAvgAggregator(
        federation.stages.aggregator, noise_multiplier=z, clipping_norm=cfg.clipping_norm,
        noise=GaussianNoise(secure=cfg.secure_mode, seed=None if cfg.secure_mode else noise_seed),
        placement=cfg.noise_placement, target_quantile=ad.target_quantile if ad.enabled else None,
        clip_learning_rate=ad.learning_rate, count_noise_multiplier=count_z)
    federation.stages.aggregator = wrapper
    for s in federation.sites:
        e, d = deltas[s.site_id]
        ledgers[s.site_id] = SiteLedger(create_accountant(cfg.accountant), e, d, z, q, 1)
    info["mechanism"] = (f"DP-FedAvg, {'adaptive' if ad.enabled else 'fixed'} clipping, noise at the "
                         f"{'sites (distributed)' if cfg.noise_placement == 'distributed' else 'server'}; "
                         "site-level guarantee (a whole hospital's contribution)")
    info["clipping"] = {"clipping_norm": cfg.clipping_norm, "adaptive": ad.enabled,
                        **({"target_quantile": ad.target_quantile, "learning_rate": ad.learning_rate,
                            "count_noise_multiplier": count_z} if ad.enabled else {})}
    info["noise"] = {"noise_multiplier": z, "update_noise_multiplier": wrapper.update_noise_multiplier,
                     "sites_per_round": m, "sample_rate": q, "placement": cfg.noise_placement}
    info["aggregator_history"] = wrapper.history
