"""Run one (attack, defense) cell, or the whole grid in parallel processes.

Why cells are independent processes: each cell is a full federated run with
its own seeded state, so results do not depend on scheduling or on how many
workers run them; the grid's output is ordered by (attack, defense).
"""

from __future__ import annotations

import multiprocessing as mp
import time
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any

import numpy as np

from fedshield.config import Scenario
from fedshield.data import FederatedDataset, load_dataset
from fedshield.errors import ConfigError, FedShieldError
from fedshield.redteam.attacks import ATTACKS, BACKDOOR_DATASETS, build_attack, validate_attack
from fedshield.redteam.config import MaliciousConfig, RedTeamConfig
from fedshield.redteam.defenses import resolve_defense
from fedshield.redteam.metrics import final_metrics, screening_rates

_DATASETS: dict[tuple, FederatedDataset] = {}


def load_cached(scenario: Scenario) -> FederatedDataset:
    d = scenario.data
    key = (d.dataset, d.data_dir, d.num_sites, d.alpha, scenario.seed)
    if key not in _DATASETS:
        _DATASETS[key] = load_dataset(d.dataset, data_dir=d.data_dir, num_sites=d.num_sites, alpha=d.alpha,
                                      seed=scenario.seed, download=d.download)
    return _DATASETS[key]


def resolve_malicious(cfg: MaliciousConfig, site_ids: Sequence[str], *, seed: int) -> list[str]:
    """Explicit ids (checked), or a seeded draw of ``count`` ids: the same for every cell."""
    ids = list(site_ids)
    if cfg.sites is not None:
        unknown = [s for s in cfg.sites if s not in ids]
        if unknown:
            raise ConfigError(f"[redteam.malicious] sites {unknown} are not in this federation; its sites are {ids}.")
        return sorted(cfg.sites)
    if cfg.count > len(ids):
        raise ConfigError(f"[redteam.malicious] count is {cfg.count} but the federation has only {len(ids)} sites.")
    rng = np.random.default_rng([seed, 0xA77AC])
    return sorted(ids[i] for i in rng.choice(len(ids), size=cfg.count, replace=False))


def _trigger_of(redteam: RedTeamConfig, attack: str, dataset: str) -> dict[str, Any]:
    source = attack if ATTACKS[attack].backdoor else "backdoor"
    if dataset != "pneumonia":
        return {}
    p = validate_attack(source, redteam.params_for(source), dataset=dataset)
    return {"size": p.size, "corner": p.corner, "value": getattr(p, "value", 1.0)}


def _group_params(redteam: RedTeamConfig, attack: str, dataset: str) -> dict[str, Any]:
    source = attack if ATTACKS[attack].backdoor else "semantic_backdoor"
    p = validate_attack(source, redteam.params_for(source), dataset=dataset)
    return {"sex": p.sex, "min_age": p.min_age}


def run_cell(scenario: Scenario, redteam: RedTeamConfig, *, attack: str, defense: str) -> dict[str, Any]:
    """One federated run under ``attack`` against ``defense``; user errors land in ``error``."""
    from fedshield.simulation import build_federation, run_federation

    t0 = time.perf_counter()
    cell: dict[str, Any] = {"attack": attack, "defense": defense, "error": None}
    try:
        bundle = resolve_defense(defense, redteam.bundles, f=redteam.malicious.declared_f)
        sc = scenario.model_copy(update={"aggregation": bundle.aggregation, "screening": bundle.screening})
        dataset = load_cached(sc)
        mal = resolve_malicious(redteam.malicious, dataset.site_ids, seed=sc.seed)
        from_round = redteam.malicious.from_round
        built = build_attack(attack, redteam.params_for(attack), dataset=sc.data.dataset, data_dir=sc.data.data_dir,
                             malicious=mal, from_round=from_round, server_lr=sc.server.learning_rate, seed=sc.seed)
        fed = build_federation(sc, site_wrapper=built.site_wrapper, transport_wrapper=built.transport_wrapper,
                               dataset=dataset)
        fed.stages.evaluator = None  # scored once at the end; per-round evaluation only costs time
        result = run_federation(fed)
        kind = BACKDOOR_DATASETS.get(sc.data.dataset)
        masks = None
        if kind == "semantic":
            from fedshield.redteam.groups import heart_group_masks

            masks = heart_group_masks(data_dir=sc.data.data_dir, **_group_params(redteam, attack, sc.data.dataset))
        cell.update(final_metrics(result.model_factory, result.final_parameters, dataset, backdoor=kind,
                                  trigger=_trigger_of(redteam, attack, sc.data.dataset), group_masks=masks))
        cell["screening"] = screening_rates(result.history, malicious=set(built.malicious), from_round=from_round)
        cell["malicious_sites"] = built.malicious
        cell["rounds_run"] = len(result.history)
        cell["stopped_early"] = result.stopped_early
    except FedShieldError as exc:
        cell["error"] = f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # a bug in one cell must not lose the rest of the grid
        cell["error"] = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=4)}"
    cell["seconds"] = round(time.perf_counter() - t0, 2)
    return cell


def _job(args: tuple) -> dict[str, Any]:
    scenario, redteam, attack, defense = args
    return run_cell(scenario, redteam, attack=attack, defense=defense)


def run_grid(scenario: Scenario, redteam: RedTeamConfig, *, attacks: Sequence[str], defenses: Sequence[str],
             workers: int = 1, on_cell: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """Every (attack, defense) cell; ``workers`` > 1 runs them in spawned processes."""
    for a in attacks:
        validate_attack(a, redteam.params_for(a), dataset=scenario.data.dataset)
    for d in defenses:
        resolve_defense(d, redteam.bundles, f=redteam.malicious.declared_f)
    jobs = [(scenario, redteam, a, d) for a in attacks for d in defenses]
    order = {(a, d): i for i, (_, _, a, d) in enumerate(jobs)}
    cells: list[dict[str, Any]] = []
    if workers <= 1:
        for job in jobs:
            cells.append(_job(job))
            if on_cell:
                on_cell(cells[-1])
    else:
        with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
            for fut in as_completed([pool.submit(_job, job) for job in jobs]):
                cells.append(fut.result())
                if on_cell:
                    on_cell(cells[-1])
    return sorted(cells, key=lambda c: order[(c["attack"], c["defense"])])
