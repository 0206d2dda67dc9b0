"""Install a PrivacyConfig on a built federation, checking it against the scenario.

Why here and not in the pydantic model: whether a noise multiplier pays for a
budget depends on the rounds, the local steps and each site's size, which only
the built federation knows. Everything is still checked before round 1.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
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


def _sites_per_round(scenario, num_sites: int) -> int:
    return min(num_sites, max(scenario.server.min_fit_sites, math.ceil(scenario.server.fraction_fit * num_sites)))


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


@dataclass(frozen=True)
class SiteFacts:
    """What the privacy plan needs to know about one site. ``num_records`` is
    treated as public metadata (over the network the site reports it at Join)."""

    site_id: str
    num_records: int | None
    train_config: Any  # TrainConfig: batch_size, local_steps, proximal_mu


@dataclass
class PrivacyPlan:
    """Every DP parameter of a run, computed from the scenario and public site facts.

    Why a plan separate from installing it: the simulation installs both halves
    in one process, while ``fedshield server`` installs the server half (budget
    gate, DP-FedAvg) and each ``fedshield client`` its own half (DP-SGD or its
    share of the noise); all three compute the same plan from the same numbers.
    """

    config: PrivacyConfig
    mode: str
    sites: dict[str, dict[str, Any]]  # per site: epsilon, delta, noise_multiplier, sample_rate, steps_per_round
    info: dict[str, Any]
    notes: list[str]
    sites_per_round: int | None = None  # client mode
    noise_seed: list[int] | None = None  # client mode, non-secure noise only


def plan_privacy(scenario, sites: Sequence[SiteFacts], config: PrivacyConfig | dict | None = None,
                 *, model=None) -> PrivacyPlan | None:
    """The plan for ``sites`` (all of the federation's sites in client mode: N counts); None when DP is off."""
    cfg = validate_privacy(config if config is not None else getattr(scenario, "privacy", PrivacyConfig()))
    if cfg.mode == "off":
        return None
    notes: list[str] = []
    if not cfg.secure_mode:
        _warn(notes, NOT_FOR_PRODUCTION)
    info: dict[str, Any] = {"mode": cfg.mode, "accountant": cfg.accountant, "secure_mode": cfg.secure_mode,
                            "rounds_planned": scenario.rounds, "config": cfg.model_dump(mode="json")}
    plan = PrivacyPlan(cfg, cfg.mode, {}, info, notes)
    if cfg.mode == "sample":
        if model is not None:
            check_model_supported(model)
        _plan_sample(scenario, sites, plan)
    else:
        _plan_client(scenario, sites, plan)
    return plan


def _plan_sample(sc, sites: Sequence[SiteFacts], plan: PrivacyPlan) -> None:
    cfg, notes, per_site = plan.config, plan.notes, {}
    for site in sites:
        tc = site.train_config
        if tc.proximal_mu > 0:
            raise ConfigError("The 'client.proximal_mu' key must be 0 with privacy.mode = 'sample': DP-SGD clips "
                              "per-example gradients and would silently drop the FedProx term. Set it to 0.")
        n = site.num_records
        if not isinstance(n, int) or n < 1:
            raise ConfigError(f"privacy.mode = 'sample' needs the record count of site {site.site_id!r} to "
                              f"calibrate its noise; got {n!r}.")
        eps, delta = cfg.budget_of(site.site_id)
        if delta >= 1.0 / n:
            _warn(notes, f"site {site.site_id!r}: delta={delta:g} >= 1/N = 1/{n} records: a mechanism that "
                         "publishes one record outright would meet it; use delta < 1/N")
        q = poisson_sample_rate(num_records=n, batch_size=tc.batch_size)
        z = _noise_for(cfg, eps=eps, delta=delta, sample_rate=q, steps_per_round=tc.local_steps,
                       rounds=sc.rounds, who=f"site {site.site_id!r}")
        plan.sites[site.site_id] = {"epsilon": eps, "delta": delta, "noise_multiplier": z, "sample_rate": q,
                                    "steps_per_round": tc.local_steps}
        per_site[site.site_id] = {"records": n, "sample_rate": q, "expected_batch_size": n * q,
                                  "noise_multiplier": z, "noise_std": z * cfg.max_grad_norm,
                                  "steps_per_round": tc.local_steps}
    plan.info["mechanism"] = ("DP-SGD (Opacus): Poisson sampling, per-example gradient clipping, Gaussian noise; "
                              "record-level guarantee per hospital")
    plan.info["clipping"] = {"max_grad_norm": cfg.max_grad_norm}
    plan.info["noise"] = per_site


def _plan_client(sc, sites: Sequence[SiteFacts], plan: PrivacyPlan) -> None:
    cfg, notes = plan.config, plan.notes
    num_sites = len(sites)
    m = _sites_per_round(sc, num_sites)
    q = m / num_sites
    deltas = {s.site_id: cfg.budget_of(s.site_id) for s in sites}
    if min(d for _, d in deltas.values()) >= 1.0 / num_sites:
        _warn(notes, f"delta >= 1/N for N = {num_sites} sites: client-level DP protects whole sites, so delta "
                     "should be below 1/number of sites")
    z = max(_noise_for(cfg, eps=e, delta=d, sample_rate=q, steps_per_round=1, rounds=sc.rounds,
                       who=f"site {sid!r}") for sid, (e, d) in deltas.items())
    if q < 1:
        notes.append("sites are sampled as a fixed-size subset; the accountant treats this as Poisson sampling "
                     f"at rate {q:.3g} (the usual approximation)")
    inner_name = getattr(sc.aggregation, "name", "mean")
    if inner_name != "mean" or getattr(sc.aggregation, "pre", []):
        _warn(notes, f"aggregator {inner_name!r}: the DP noise is calibrated to the mean's sensitivity (C/n); "
                     "a robust aggregator can move further when one site changes, so the guarantee is proven "
                     "only for aggregation.name = 'mean'")
    if cfg.noise_placement == "distributed":
        notes.append(f"distributed noise assumes {m} site(s) answer each round; fewer answers mean less noise "
                     "than accounted (see noise.sites per round in the privacy history)")
    plan.sites_per_round, plan.noise_seed = m, [sc.seed, 0xD9]
    for sid, (e, d) in deltas.items():
        plan.sites[sid] = {"epsilon": e, "delta": d, "noise_multiplier": z, "sample_rate": q, "steps_per_round": 1}
    ad = cfg.adaptive_clipping
    count_z = (ad.count_noise_multiplier or m / 20.0) if ad.enabled else None
    plan.info["mechanism"] = (f"DP-FedAvg, {'adaptive' if ad.enabled else 'fixed'} clipping, noise at the "
                              f"{'sites (distributed)' if cfg.noise_placement == 'distributed' else 'server'}; "
                              "site-level guarantee (a whole hospital's contribution)")
    plan.info["clipping"] = {"clipping_norm": cfg.clipping_norm, "adaptive": ad.enabled,
                             **({"target_quantile": ad.target_quantile, "learning_rate": ad.learning_rate,
                                 "count_noise_multiplier": count_z} if ad.enabled else {})}
    plan.info["noise"] = {"noise_multiplier": z, "sites_per_round": m, "sample_rate": q,
                          "placement": cfg.noise_placement}


def attach_site_privacy(site, plan: PrivacyPlan | None, *, index: int):
    """The site's half of ``plan``: DP-SGD replaces its trainer (sample mode) or its share of the
    noise goes first among its transforms (distributed client mode). Returns the DP-SGD accountant."""
    if plan is None:
        return None
    cfg, p = plan.config, plan.sites[site.site_id]
    if plan.mode == "sample":
        acct = create_accountant(cfg.accountant)
        site.local_trainer = DPSGDTrainer(site_id=site.site_id, accountant=acct, noise_multiplier=p["noise_multiplier"],
                                          max_grad_norm=cfg.max_grad_norm, sample_rate=p["sample_rate"],
                                          epsilon_budget=p["epsilon"], delta=p["delta"], secure_mode=cfg.secure_mode)
        return acct
    if cfg.noise_placement == "distributed":
        noise = GaussianNoise(secure=cfg.secure_mode, seed=None if cfg.secure_mode else [*plan.noise_seed, index + 1])
        site.transforms.insert(0, DistributedNoiseTransform(  # before any secure-aggregation masking
            noise_multiplier=p["noise_multiplier"], clipping_norm=cfg.clipping_norm,
            sites_per_round=plan.sites_per_round, noise=noise))
    return None


def site_mechanism(site) -> dict[str, Any] | None:
    """What DP this (built) site actually applies, as public numbers: a site tells the server at Join,
    and the server refuses it when they differ from its own plan (see ``expected_mechanism``)."""
    trainer = getattr(site, "local_trainer", None)
    if isinstance(trainer, DPSGDTrainer):
        return {"mode": "sample", "noise_multiplier": trainer.noise_multiplier, "sample_rate": trainer.sample_rate,
                "max_grad_norm": trainer.max_grad_norm, "epsilon": trainer.epsilon_budget, "delta": trainer.delta}
    for t in getattr(site, "transforms", ()):
        if isinstance(t, DistributedNoiseTransform):
            return {"mode": "client", "noise_multiplier": t.noise_multiplier, "clipping_norm": t.clipping_norm,
                    "sites_per_round": t.sites_per_round}
    return None


def expected_mechanism(plan: PrivacyPlan | None, site_id: str) -> dict[str, Any] | None:
    """``site_mechanism`` of an honest site built from the same scenario (None: nothing at the site)."""
    if plan is None or site_id not in plan.sites:
        return None
    cfg, p = plan.config, plan.sites[site_id]
    if plan.mode == "sample":
        return {"mode": "sample", "noise_multiplier": p["noise_multiplier"], "sample_rate": p["sample_rate"],
                "max_grad_norm": cfg.max_grad_norm, "epsilon": p["epsilon"], "delta": p["delta"]}
    if cfg.noise_placement == "distributed":
        return {"mode": "client", "noise_multiplier": p["noise_multiplier"], "clipping_norm": cfg.clipping_norm,
                "sites_per_round": plan.sites_per_round}
    return None


def same_mechanism(a: dict[str, Any] | None, b: dict[str, Any] | None) -> bool:
    if a is None or b is None:
        return a is b
    if set(a) != set(b):
        return False
    return all(math.isclose(a[k], b[k], rel_tol=1e-9, abs_tol=0.0) if isinstance(a[k], (int, float))
               and not isinstance(a[k], bool) and isinstance(b[k], (int, float)) else a[k] == b[k] for k in a)


class RemoteSitesBudgetGate(BudgetGate):
    """The server's gate when the sites are other processes (``fedshield server``).

    The DP-SGD trainers and their accountants live at the sites, which refuse
    to train past their own budget; the server mirrors their spend from public
    numbers (each site's records, the batch size, the local steps): after a
    round it records the steps of every participant. A site with no ledger
    (one that joined after the plan was made) is refused, never waved through.
    """

    def admit(self, site_ids: list[str], round_num: int) -> tuple[list[str], dict[str, str]]:
        unknown = {sid: "privacy budget: the server has no ledger for this site (it joined after the run's "
                        "privacy plan was made); it cannot be accounted, so it does not train"
                   for sid in site_ids if sid not in self.ledgers}
        admitted, refused = super().admit([s for s in site_ids if s not in unknown], round_num)
        if unknown:
            self.refusals.setdefault(round_num, {}).update(unknown)
        return admitted, {**refused, **unknown}

    def account(self, participants: list[str], round_num: int) -> dict[str, Any]:
        if self.mode == "sample":
            for sid in participants:
                ledger = self.ledgers.get(sid)
                if ledger is not None:
                    ledger.accountant.step(noise_multiplier=ledger.noise_multiplier,
                                           sample_rate=ledger.sample_rate, steps=ledger.steps_per_round)
        return super().account(participants, round_num)


def attach_server_privacy(stages, plan: PrivacyPlan | None, *, accountants: dict[str, Any] | None = None,
                          remote_sites: bool = False) -> BudgetGate | None:
    """The server's half of ``plan``: the budget gate (``stages.privacy``) and, in client mode, DP-FedAvg
    around ``stages.aggregator``. ``accountants``: the sites' DP-SGD accountants when they share this
    process (the simulation); ``remote_sites``: they do not, so the gate mirrors their spend."""
    if plan is None:
        return None
    cfg = plan.config
    info = dict(plan.info)
    ledgers: dict[str, SiteLedger] = {}
    for sid, p in plan.sites.items():
        acct = accountants[sid] if accountants and sid in accountants else create_accountant(cfg.accountant)
        ledgers[sid] = SiteLedger(acct, p["epsilon"], p["delta"], p["noise_multiplier"], p["sample_rate"],
                                  p["steps_per_round"])
    if plan.mode == "client":
        ad = cfg.adaptive_clipping
        z = max(p["noise_multiplier"] for p in plan.sites.values())
        wrapper = DPFedAvgAggregator(
            stages.aggregator, noise_multiplier=z, clipping_norm=cfg.clipping_norm,
            noise=GaussianNoise(secure=cfg.secure_mode, seed=None if cfg.secure_mode else plan.noise_seed),
            placement=cfg.noise_placement, target_quantile=ad.target_quantile if ad.enabled else None,
            clip_learning_rate=ad.learning_rate, count_noise_multiplier=info["clipping"].get("count_noise_multiplier"))
        stages.aggregator = wrapper
        info["noise"] = {**info["noise"], "update_noise_multiplier": wrapper.update_noise_multiplier}
        info["aggregator_history"] = wrapper.history
    gate = (RemoteSitesBudgetGate if remote_sites else BudgetGate)(mode=plan.mode, ledgers=ledgers)
    gate.info, gate.warnings = info, list(plan.notes)
    stages.privacy = gate
    return gate


def attach_privacy(federation, config: PrivacyConfig | dict | None = None) -> None:
    """Install DP on ``federation`` (from ``build_federation``) in place; a no-op when mode is "off".

    Both halves in this process: the sites' DP-SGD accountants are the gate's ledgers.
    """
    cfg = validate_privacy(config if config is not None else getattr(federation.scenario, "privacy", PrivacyConfig()))
    if cfg.mode == "off":
        return
    facts = [SiteFacts(s.site_id, int(s.data.num_train), s.train_config) for s in federation.sites]
    model = federation.model_factory() if cfg.mode == "sample" else None
    plan = plan_privacy(federation.scenario, facts, cfg, model=model)
    accountants = {s.site_id: attach_site_privacy(s, plan, index=i) for i, s in enumerate(federation.sites)}
    attach_server_privacy(federation.stages, plan,
                          accountants={k: v for k, v in accountants.items() if v is not None})
