"""Build a federation from a scenario and run it in this process.

This is the embedded default: every site is an object in this process behind
``InMemoryTransport``; ``fedshield server``/``client`` run the same
``run_round`` over the network.
"""

from __future__ import annotations

import hashlib
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import torch

from fedshield.aggregation import RobustPipeline, create_aggregator, create_pre_aggregator
from fedshield.client import Site, TrainConfig
from fedshield.client.disclosure import check_update_size, noised_before_masking
from fedshield.client.secagg_role import SecAggRole
from fedshield.config import Scenario
from fedshield.data import FederatedDataset, load_dataset
from fedshield.errors import ConfigError
from fedshield.models import create_model
from fedshield.models.params import get_flat_params
from fedshield.screening import create_screener
from fedshield.secagg.prg import RandomBytes, seeded_random_bytes
from fedshield.server.engine import RoundRecord, RoundStages, ServerState, run_round
from fedshield.server.evaluation import FederatedEvaluator
from fedshield.server.events import EventSink
from fedshield.server.optimizers import create_server_optimizer
from fedshield.server.sampling import UniformSampler
from fedshield.server.secure_collect import SecureCollector
from fedshield.transport import InMemoryTransport


@dataclass
class Federation:
    scenario: Scenario
    dataset: FederatedDataset
    sites: list[Any]
    transport: Any  # InMemoryTransport, possibly wrapped
    stages: RoundStages
    state: ServerState
    model_factory: Callable[[], torch.nn.Module]


@dataclass
class RunResult:
    scenario: Scenario
    run_id: str
    history: list[RoundRecord]
    final_parameters: np.ndarray
    model_factory: Callable[[], torch.nn.Module]
    dataset: FederatedDataset
    seconds: float
    stopped_early: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def run_id_for(scenario: Scenario) -> str:
    """Deterministic run id: same scenario and seed, same id (and metrics file)."""
    return hashlib.sha256(scenario.to_json().encode()).hexdigest()[:16]


def train_config_of(scenario: Scenario) -> TrainConfig:
    return TrainConfig(**scenario.client.model_dump(exclude={"lr_schedule"}))


def fit_config_of(scenario: Scenario):
    """The per-round instructions the server sends with the global model."""
    c = scenario.client
    if c.lr_schedule == "constant":
        return {}

    def cosine(round_num: int) -> dict:
        progress = (round_num - 1) / max(1, scenario.rounds)
        return {"learning_rate": c.learning_rate * 0.5 * (1 + math.cos(math.pi * progress))}

    return cosine


def build_aggregator(scenario: Scenario) -> RobustPipeline:
    agg = scenario.aggregation
    pre = [create_pre_aggregator(p["name"], **{k: v for k, v in p.items() if k != "name"}) for p in agg.pre]
    return RobustPipeline(pre=pre, aggregator=create_aggregator(agg.name, **agg.params))


def build_server_optimizer(scenario: Scenario):
    s = scenario.server
    if s.optimizer == "fedavg":
        return create_server_optimizer("fedavg", learning_rate=s.learning_rate)
    return create_server_optimizer(s.optimizer, learning_rate=s.learning_rate, beta1=s.beta1, beta2=s.beta2, tau=s.tau)


def build_federation(
    scenario: Scenario,
    *,
    site_wrapper: Callable[[Site, int], Any] | None = None,
    transport_wrapper: Callable[[InMemoryTransport], Any] | None = None,
    sinks: Sequence[EventSink] = (),
    dataset: FederatedDataset | None = None,
) -> Federation:
    """Assemble data, models, sites, transport and the server's stages.

    ``site_wrapper(site, index)`` lets the red team swap an honest site for a
    malicious one, and ``transport_wrapper`` lets colluding attackers see the
    honest updates (omniscient attacks) — without the server knowing: the
    server never imports the red team.
    """
    torch.set_num_threads(1)
    d = scenario.data
    dataset = dataset or load_dataset(
        d.dataset, data_dir=d.data_dir, num_sites=d.num_sites, alpha=d.alpha, seed=scenario.seed, download=d.download
    )
    model_factory = partial(
        create_model, scenario.model.name, input_shape=dataset.input_shape, seed=scenario.seed, **scenario.model.params
    )
    honest = [make_site(scenario, sd, i, model_factory) for i, sd in enumerate(dataset.sites)]
    ckks_key = _sites_ckks_key(scenario)
    stages = build_stages(scenario, sinks=sinks, ckks_public=ckks_key.public_key() if ckks_key else None)
    state = ServerState(run_id=run_id_for(scenario), parameters=get_flat_params(model_factory()))
    federation = Federation(scenario, dataset, honest, None, stages, state, model_factory)
    # Privacy first, on the sites themselves (DP-SGD replaces their local trainer;
    # distributed noise goes before any masking), then the wrappers around them.
    if scenario.privacy.mode != "off":
        from fedshield.privacy import attach_privacy

        attach_privacy(federation)
    attach_adversarial_training(scenario, honest)  # around the (possibly DP) trainer
    sites: list[Any] = [site_wrapper(site, i) if site_wrapper else site for i, site in enumerate(honest)]
    ids = [sd.site_id for sd in dataset.sites]
    # In one process every party's randomness is the simulator's anyway; seeding it makes a
    # SecAgg+ run repeat bit for bit (stochastic rounding draws from it). Network sites keep os.urandom.
    sites = [secure_role(scenario, site, ckks_key=ckks_key, site_ids=ids,
                         random_bytes=seeded_random_bytes(scenario.seed, label=f"simulation/{sid}".encode()))
             for site, sid in zip(sites, ids)]
    transport = InMemoryTransport(sites)
    if transport_wrapper is not None:
        transport = transport_wrapper(transport)
    stages.evaluator = FederatedEvaluator(transport=transport, model_factory=model_factory,
                                          central_test=dataset.pooled_test)
    federation.sites, federation.transport = sites, transport
    return federation


def make_site(scenario: Scenario, data, index: int, model_factory: Callable[[], torch.nn.Module]) -> Site:
    """One honest site, as every federation (in process or over the network) builds it."""
    tc, sa, dp = train_config_of(scenario), scenario.secure_aggregation, scenario.privacy
    check_update_size(site_id=data.site_id, num_records=data.num_train, batch_size=tc.batch_size,
                      local_steps=tc.local_steps, secure_aggregation=sa.enabled,
                      noised_before_masking=noised_before_masking(mode=dp.mode, noise_placement=dp.noise_placement),
                      unsafe_allow_small_updates=sa.unsafe_allow_small_updates)
    return Site(data=data, model_factory=model_factory, train_config=tc, seed=scenario.seed, site_index=index)


def attach_adversarial_training(scenario: Scenario, sites: Sequence[Site],
                                site_ids: Sequence[str] | None = None) -> list[str]:
    """PGD-AT on the sites ``[adversarial_training]`` selects; returns their ids.

    ``site_ids``: every site of the federation (default: ``sites``'). A per-site entry naming
    none of them is refused: a typo must not leave a hospital silently undefended."""
    at = scenario.adversarial_training
    if not at.enabled and not at.sites:
        return []
    from fedshield.client.adversarial_training import AdversarialTrainingConfig, enable_adversarial_training

    ids = list(site_ids) if site_ids is not None else [s.site_id for s in sites]
    unknown = sorted(set(at.sites) - set(ids))
    if unknown:
        raise ConfigError(f"The 'adversarial_training.sites' key names {unknown}, which are not sites of this "
                          f"federation; its sites are {ids}. Fix the site ids.")
    enabled = []
    for site in sites:
        settings = at.settings_for(site.site_id)
        if settings is None:
            continue
        image = np.asarray(site.data.x_train).ndim == 4
        eps = settings["eps"] / 255.0 if image else settings["eps"]
        enable_adversarial_training(site, AdversarialTrainingConfig(
            eps=eps, steps=settings["steps"], adversarial_weight=settings["adversarial_weight"],
            clip=(0.0, 1.0) if image else None))
        enabled.append(site.site_id)
    return enabled


def _sites_ckks_key(scenario: Scenario):
    """In simulation the sites' side generates the CKKS key pair (over the network, `fedshield he-keys`
    seals it to each site's certificate); the server's stages get only its ``public_key()``."""
    if not scenario.secure_aggregation.uses_ckks:
        return None
    from fedshield.he import KeyOwner

    return KeyOwner()


def secure_role(scenario: Scenario, site: Any, *, ckks_key: Any = None, site_ids: Sequence[str] | None = None,
                random_bytes: RandomBytes = os.urandom) -> Any:
    """The site's side of secure aggregation (answers the SecAgg+ or CKKS stages), when the scenario asks.
    ``random_bytes`` feeds SecAgg+'s keys, masks and rounding: ``os.urandom`` unless simulated."""
    sa = scenario.secure_aggregation
    if not sa.enabled:
        return site
    if sa.protocol == "ckks":
        from fedshield.he.collect import HeSiteRole

        if ckks_key is None:
            raise ConfigError("secure_aggregation.protocol = 'ckks' needs this site's CKKS secret key; over the "
                              "network give the site's [he] sealed_key (written by `fedshield he-keys`).")
        return HeSiteRole(site, ckks_key, min_contributors=sa.min_contributors, site_ids=site_ids)
    return SecAggRole(site, random_bytes=random_bytes)


def build_network_site(scenario: Scenario, dataset: FederatedDataset, site_id: str,
                       model_factory: Callable[[], torch.nn.Module],
                       wrapper: Callable[[Any], Any] | None = None, ckks_key: Any = None) -> Any:
    """The one site that ``fedshield client`` runs, wired as ``build_federation`` wires each of its sites:
    the same ``Site``, the site's half of the privacy plan (DP-SGD, or its share of distributed noise;
    the server installs the other half), ``wrapper`` (the audit witness), then the SecAgg+ role."""
    from fedshield.privacy.attach import SiteFacts, attach_site_privacy, plan_privacy

    ids = [sd.site_id for sd in dataset.sites]
    i = ids.index(site_id)
    site = make_site(scenario, dataset.sites[i], i, model_factory)
    mode = scenario.privacy.mode
    if mode != "off":
        # sample mode: only this site's records calibrate its noise; client mode: N = every site counts
        facts = ([SiteFacts(site_id, int(site.data.num_train), site.train_config)] if mode == "sample" else
                 [SiteFacts(sid, None, site.train_config) for sid in ids])
        plan = plan_privacy(scenario, facts, model=model_factory() if mode == "sample" else None)
        attach_site_privacy(site, plan, index=i)
    attach_adversarial_training(scenario, [site], site_ids=ids)
    return secure_role(scenario, wrapper(site) if wrapper else site, ckks_key=ckks_key, site_ids=ids)


def build_stages(scenario: Scenario, *, sinks: Sequence[EventSink] = (), ckks_public: Any = None) -> RoundStages:
    """The server's pluggable stages for a scenario (shared with ``fedshield server``).

    ``ckks_public``: the consortium's public CKKS key (``CkksPublicKey``), required when the
    scenario uses protocol 'ckks'; the server never gets more than that."""
    sa = scenario.secure_aggregation
    collector = None
    if sa.uses_ckks:
        from fedshield.he.collect import HeCollector

        if ckks_public is None:
            raise ConfigError("secure_aggregation.protocol = 'ckks' needs the consortium's public CKKS key: give "
                              "the server's [he] public_key (written by `fedshield he-keys`).")
        collector = HeCollector(public_key=ckks_public, clip_range=sa.clip_range, clip_norm=sa.clip_norm,
                                min_contributors=sa.min_contributors)
    elif sa.enabled:
        collector = SecureCollector(clip_range=sa.clip_range, bucket_size=sa.bucket_size, clip_norm=sa.clip_norm,
                                    weighting=sa.weighting, seed=scenario.seed, degree=sa.degree,
                                    threshold=sa.threshold, skip_failed_buckets=sa.skip_failed_buckets)
    return RoundStages(
        sampler=UniformSampler(fraction=scenario.server.fraction_fit, min_sites=scenario.server.min_fit_sites,
                               seed=scenario.seed),
        screener=create_screener(scenario.screening.name, **scenario.screening.params),
        aggregator=build_aggregator(scenario),
        server_optimizer=build_server_optimizer(scenario),
        evaluator=None,
        sinks=list(sinks),
        fit_config=fit_config_of(scenario),
        min_fit_sites=scenario.server.min_fit_sites,
        seed=scenario.seed,
        collector=collector,
    )


def run_federation(
    federation: Federation,
    *,
    on_round: Callable[[RoundRecord], None] | None = None,
) -> RunResult:
    """Run every round; a refused budget or lost quorum ends the run cleanly."""
    from fedshield.errors import PrivacyBudgetExceeded, ProtocolError

    t0 = time.perf_counter()
    history: list[RoundRecord] = []
    stopped: str | None = None
    sc = federation.scenario
    for _ in range(sc.rounds):
        try:
            record = run_round(federation.state, federation.stages, federation.transport)
        except (ProtocolError, PrivacyBudgetExceeded) as exc:
            stopped = str(exc)
            break
        history.append(record)
        if on_round is not None:
            on_round(record)
    return RunResult(
        scenario=sc,
        run_id=federation.state.run_id,
        history=history,
        final_parameters=federation.state.parameters.copy(),
        model_factory=federation.model_factory,
        dataset=federation.dataset,
        seconds=time.perf_counter() - t0,
        stopped_early=stopped,
        extra=stage_extras(federation.stages),
    )


def stage_extras(stages: RoundStages) -> dict[str, Any]:
    """Sections of metrics.json that only some runs have (privacy, secure aggregation);
    ``fedshield server`` writes the same ones."""
    extra: dict[str, Any] = {}
    if stages.privacy is not None:
        from types import SimpleNamespace

        from fedshield.privacy import privacy_summary

        extra["privacy"] = privacy_summary(SimpleNamespace(stages=stages))
    describe = getattr(stages.collector, "describe", None)  # SecAgg+ and CKKS collectors say what ran
    if describe is not None:
        extra["secure_aggregation"] = describe()
    return extra


def simulate(scenario: Scenario, **kwargs) -> RunResult:
    on_round = kwargs.pop("on_round", None)
    return run_federation(build_federation(scenario, **kwargs), on_round=on_round)


def _headline(history: list[RoundRecord]) -> dict[str, float | None]:
    ev = history[-1].evaluation if history else {}
    test = ev.get("central_test") or ev.get("pooled") or {}
    return {"mean_site_accuracy": ev.get("mean_site_accuracy"), "accuracy": test.get("accuracy"),
            "auc": test.get("auc")}


def add_utility_cost(result: RunResult) -> None:
    """Run the same scenario without DP (same seed, same data) and record what DP cost.

    Why a second run rather than a stored figure: the cost depends on the seed,
    the data split and the budget, so only the same run without noise answers it.
    """
    privacy = result.extra.get("privacy")
    if not privacy or privacy.get("mode", "off") == "off":
        return
    from fedshield.privacy import PrivacyConfig

    sc = result.scenario
    base = sc.model_copy(update={"privacy": PrivacyConfig(), "audit": sc.audit.model_copy(update={"enabled": False})})
    baseline = run_federation(build_federation(base, dataset=result.dataset))
    with_dp, without_dp = _headline(result.history), _headline(baseline.history)
    privacy["utility"] = {
        "with_dp": with_dp,
        "without_dp": without_dp,
        "accuracy_cost": None if with_dp["accuracy"] is None or without_dp["accuracy"] is None
        else without_dp["accuracy"] - with_dp["accuracy"],
        "rounds_without_dp": len(baseline.history),
    }
