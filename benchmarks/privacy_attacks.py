"""Privacy and evasion red team on PneumoniaMNIST (and UCI heart disease): issue 8.

Run:  .venv/bin/python benchmarks/privacy_attacks.py [--quick] [--data-dir D] [--out-dir runs/privacy_attacks]

What it shows, and why each piece is set up as it is:

* Gradient inversion against one site's update. The victim model is the
  round-1 global model, i.e. freshly initialized -- exactly what the server
  sends first and what the literature attacks; the trained global model is
  attacked too and reported separately. Undefended (FedSGD batch 1..16 and a
  multi-step FedAvg update), under DP-SGD (one step: per-example clip + Gaussian
  noise with the target site's own noise multiplier from the DP training below,
  epsilon <= 8) and under secure aggregation over 5 sites. The SecAgg view is the
  product's: 5 sites built by ``build_federation`` with ``[secure_aggregation]`` (and,
  for the combination, client-level DP with distributed noise) each take one local
  step over their records, mask, and the secure collector unmasks the mean; the
  attacker inverts exactly that. FedShield's setting is 16 records per site (a site
  without DP noise refuses updates of fewer: fedshield.client.disclosure); one record
  per site, which needs ``unsafe_allow_small_updates``, is measured as the like-for-like
  worst case. The batch is inverted whole and matched to the true images (Hungarian),
  as in Geiping et al.; the PSNR interval is over aggregates. iDLG label recovery
  needs no optimization, so it is scored on 256 records, not 8.
* Re-identification: is a reconstruction nearer its own record than every one of 99
  other patients'? PSNR alone cannot say (the dataset-mean X-ray scores ~18 dB against
  anyone). Under the batch protocol the matching itself favours the matched record, so
  each figure comes with a control: an unrelated aggregate's reconstructions put
  through the same matching.
* Membership inference (loss threshold, offline LiRA) against the DP benchmark's
  recipe (benchmarks/dp.py) trained by the product with and without DP-SGD at
  epsilon 8: members are the sites' training records, non-members their held-out
  ones; LiRA's shadows re-run that federated recipe on population data.
* FGSM / PGD robust accuracy, transfer from a site's local model to the global
  model, and federated adversarial training (PGD-AT inside local steps).

The federation loop here is a plain weighted FedAvg over ``Site.train`` (the
real client code, with its replaceable ``local_trainer``) so the benchmark
does not depend on server stages (screening, robust aggregation) that are
orthogonal to these attacks.

DP is FedShield's own (``[privacy] mode = "sample"``): ``plan_privacy`` calibrates
each site's noise multiplier for epsilon = 8, delta = 1e-5 over the run, and
``attach_site_privacy`` installs the Opacus DP-SGD trainer (Poisson sampling,
per-example clipping, RDP accounting), with seeded noise so runs repeat.

Progress goes to stderr, the table to stdout, and the last stdout line is the
one JSON headline.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from dataclasses import dataclass
from dataclasses import replace as dataclass_replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from _common import REPO, data_dir, headline
from dp import PNEUMONIA, PNEUMONIA_DP

from fedshield.client import Site, TrainConfig
from fedshield.client.disclosure import MIN_RECORDS_PER_UPDATE
from fedshield.client.adversarial_training import AdversarialTrainingConfig, apply_adversarial_training
from fedshield.client.trainer import train_locally
from fedshield.data import SiteData, load_dataset
from fedshield.data.partition import dirichlet_label_split
from fedshield.data.preprocess import split_indices
from fedshield.messages import FitIns
from fedshield.models import create_model
from fedshield.models.params import get_flat_params, set_flat_params
from fedshield.config import validate_scenario
from fedshield.privacy import PrivacyConfig, attach_privacy, privacy_summary
from fedshield.privacy.attach import site_mechanism
from fedshield.simulation import build_federation, run_federation
from fedshield.redteam.privacy import (
    IMAGE_EPSILONS,
    TABULAR_EPSILONS,
    accuracy,
    dlg,
    evaluate_mia,
    fedavg_update,
    image_blind_label_accuracy,
    inverting_gradients,
    lira_offline_scores,
    loss_threshold_scores,
    psnr,
    recover_labels,
    reidentified,
    reidentified_control,
    roc_auc,
    robust_accuracy_curve,
    score_reconstruction,
    shared_gradient,
    train_shadow_models,
    transfer_attack,
    wilson_interval,
)
from fedshield.redteam.privacy.plots import save_inversion_grid, save_robustness_plot, save_roc_plot

DELTA = PNEUMONIA_DP["delta"]
TARGET_EPSILON = PNEUMONIA_DP["epsilon"]
MAX_GRAD_NORM = PNEUMONIA_DP["max_grad_norm"]


@dataclass(frozen=True)
class Budget:
    inv_images: int
    ig_iterations: int
    dlg_images: int
    batch_sizes: tuple[int, ...]
    fedavg_batch: int
    rounds: int
    local_steps: int
    adv_rounds: int
    adv_eval: int
    pgd_steps: int
    shadows: int
    mia_targets: int
    tab_rounds: int
    label_records: int  # iDLG label recovery, scored on this many records
    mia_rounds: int  # rounds of the DP benchmark's recipe for the membership-inference targets
    secagg_batch: int  # records per site in the recommended secure-aggregation setting
    secagg_trials_b1: int  # aggregates inverted with 1 record per site
    secagg_trials: int  # aggregates inverted with secagg_batch records per site
    secagg_dp_trials: int  # aggregates inverted under SecAgg with client-level DP, 1 record per site


DEFAULT = Budget(inv_images=8, ig_iterations=300, dlg_images=4, batch_sizes=(4, 16), fedavg_batch=4,
                 rounds=12, local_steps=20, adv_rounds=4, adv_eval=312, pgd_steps=10, shadows=4, mia_targets=300,
                 tab_rounds=20, label_records=256, mia_rounds=PNEUMONIA["rounds"], secagg_batch=16, secagg_trials_b1=16, secagg_trials=6,
                 secagg_dp_trials=16)
QUICK = Budget(inv_images=2, ig_iterations=120, dlg_images=1, batch_sizes=(4,), fedavg_batch=2,
               rounds=3, local_steps=10, adv_rounds=1, adv_eval=96, pgd_steps=5, shadows=2, mia_targets=100,
               tab_rounds=5, label_records=32, mia_rounds=4, secagg_batch=4, secagg_trials_b1=2, secagg_trials=2,
               secagg_dp_trials=1)

TRAIN_CFG = dict(batch_size=16, learning_rate=0.05, momentum=0.9, class_weighting=True)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- the product's recipe, with and without DP


def recipe_run(ds, root: str, seed: int, *, private: bool, rounds: int):
    """PneumoniaMNIST trained by the product (``build_federation`` -> ``run_federation``) with the
    DP benchmark's recipe (benchmarks/dp.py: AUC 0.93 at epsilon 8), with or without its
    ``[privacy] mode = "sample"``: the membership-inference targets, so that DP is compared with
    the same training, not with a model too noisy to have learned anything."""
    raw = {"name": "privacy-attacks-" + ("dp" if private else "plain"), "seed": seed,
           "data": {"dataset": "pneumonia", "data_dir": root, "num_sites": len(ds.sites), "alpha": 0.5},
           **PNEUMONIA, "rounds": rounds}
    fed = build_federation(validate_scenario(raw), dataset=ds)
    fed.stages.evaluator = None  # scored once, below
    if private:
        with warnings.catch_warnings():  # "not for production" (seeded noise): wanted here, runs repeat
            warnings.simplefilter("ignore")
            attach_privacy(fed, PrivacyConfig(mode="sample", **PNEUMONIA_DP))
    result = run_federation(fed)
    model = result.model_factory()
    set_flat_params(model, result.final_parameters)
    return model, privacy_summary(fed) if private else None


def federated_shadow_trainer(ds, root: str, *, private: bool, rounds: int):
    """LiRA's shadow training, as the attacker who knows the recipe would run it: the population
    split over as many sites (Dirichlet alpha 0.5, 15 % held out per site, like the loader), the same
    federated recipe, rounds scaled so that each record is seen as often as in the target."""

    def train(model, x, y, shadow_seed):
        parts = dirichlet_label_split(y, num_sites=len(ds.sites), alpha=0.5, seed=shadow_seed, min_per_site=10)
        sites = []
        for i, rows in enumerate(parts):
            tr, te = split_indices(y[rows], test_size=0.15, seed=shadow_seed + i)
            sites.append(SiteData(f"site-{i}", x[rows][tr], y[rows][tr], x[rows][te], y[rows][te]))
        shadow_ds = dataclass_replace(ds, sites=tuple(sites))
        trained, _ = recipe_run(shadow_ds, root, shadow_seed, private=private, rounds=rounds)
        set_flat_params(model, get_flat_params(trained))

    return train


def dp_single_update(model: nn.Module, x, y, noise_multiplier: float, max_grad_norm: float, seed: int) -> np.ndarray:
    """The DP-SGD message for one step: sum of clipped per-example gradients + noise, / B."""
    gen = torch.Generator().manual_seed(seed)
    grads = np.stack([shared_gradient(model, x[i : i + 1], y[i : i + 1]) for i in range(len(y))])
    norms = np.linalg.norm(grads, axis=1, keepdims=True)
    clipped = grads * np.minimum(1.0, max_grad_norm / (norms + 1e-6))
    noise = torch.randn(grads.shape[1], generator=gen, dtype=torch.float64).numpy() * noise_multiplier * max_grad_norm
    return ((clipped.sum(0) + noise) / len(y)).astype(np.float32)


# ----------------------------------------------------------------------------- federation


def fedavg(dataset, model_name: str, cfg: TrainConfig, rounds: int, *, seed: int, adv=None,
           start_params: np.ndarray | None = None, first_round: int = 0):
    """Plain weighted FedAvg over the real ``Site`` client; returns (global model, sites, params, factory)."""

    def factory():
        return create_model(model_name, input_shape=dataset.input_shape, seed=seed)

    sites = [Site(data=s, model_factory=factory, train_config=cfg, seed=seed, site_index=i)
             for i, s in enumerate(dataset.sites)]
    if adv is not None:
        apply_adversarial_training(sites, adv)
    params = get_flat_params(factory()) if start_params is None else start_params.copy()
    for r in range(first_round, first_round + rounds):
        deltas, weights = [], []
        for s in sites:
            delta, _ = s.train(FitIns(run_id="privacy-bench", round_num=r, parameters=params))
            deltas.append(delta)
            weights.append(s.data.num_train)
        params = (params + np.average(np.stack(deltas), axis=0, weights=weights)).astype(np.float32)
    model = factory()
    set_flat_params(model, params)
    return model, sites, params, factory


# ----------------------------------------------------------------------------- sections


def label_recovery(model, site, k: int, sigma: float, rng, seed: int) -> dict:
    """iDLG on k balanced records: undefended (exact sign) and under one DP-SGD step."""
    idx = balanced_pick(site.y_train, k, rng)
    out = {"records": int(len(idx)), "chance": 0.5}
    for name, noise in (("undefended", None), ("dp", sigma)):
        hits = 0
        for i, j in enumerate(idx):
            x, y = site.x_train[j : j + 1], site.y_train[j : j + 1]
            u = (shared_gradient(model, x, y) if noise is None
                 else dp_single_update(model, x, y, noise, MAX_GRAD_NORM, seed + 10_000 + i))
            hits += int(recover_labels(model, u, 1)[0] == y[0])
        lo, hi = wilson_interval(hits, len(idx))
        out[name] = {"accuracy": hits / len(idx), "ci95": [lo, hi]}
    log(f"  label recovery ({len(idx)} records): undefended {out['undefended']['accuracy']:.3f}, "
        f"DP {out['dp']['accuracy']:.3f} (95% CI {out['dp']['ci95'][0]:.3f}-{out['dp']['ci95'][1]:.3f})")
    return out


def reid_rows(budget: Budget) -> dict[str, str]:
    """Headline name -> inversion result, for the re-identification figures."""
    return {"undefended": "ig_fedsgd_b1", "dp": "ig_fedsgd_b1_dp", "secagg": f"ig_secagg5_b{budget.secagg_batch}_sites",
            "secagg_1_record_per_site_unsafe": "ig_secagg5_b1_sites", "secagg_client_dp": "ig_secagg5_b1_sites_ddp"}


SECAGG_LR = PNEUMONIA["client"]["learning_rate"]  # the sites' own step size; public, so the attacker knows it


def secure_round_view(ds, model, picks, *, seed: int, root: str, client_dp: bool) -> tuple[np.ndarray, dict | None]:
    """The mean FedShield's server unmasks after one SecAgg+ round of 5 sites, and nothing else.

    Built by the product (``build_federation`` with ``[secure_aggregation]`` on, and for
    ``client_dp`` ``[privacy] mode = "client"`` with distributed noise): each site holds only the
    records in ``picks``, takes one local SGD step over all of them (its own batch size, which the
    server cannot shrink), adds its noise share, clips and masks; the collector unmasks the sum.
    Returns (that mean, the DP mechanism the sites applied or None).
    """
    sub = dataclass_replace(ds, sites=tuple(
        SiteData(s.site_id, s.x_train[j], s.y_train[j], s.x_test[:1], s.y_test[:1])
        for s, j in zip(ds.sites[:5], picks)))
    raw = {"name": "secagg-view", "seed": seed, "rounds": PNEUMONIA["rounds"],
           "data": {"dataset": "pneumonia", "data_dir": root, "num_sites": 5},
           "model": {"name": "cnn"},  # the benchmark's victim architecture (its parameters come with the round)
           "client": {"local_steps": 1, "batch_size": len(picks[0]), "learning_rate": SECAGG_LR, "momentum": 0.0},
           # Below the floor a site applies without DP noise (fedshield.client.disclosure) the scenario
           # must name the risk: that is the setting measured as "unsafe".
           "secure_aggregation": {"enabled": True,
                                  "unsafe_allow_small_updates": len(picks[0]) < MIN_RECORDS_PER_UPDATE}}
    if client_dp:  # accounted over the DP benchmark's 40 rounds, all 5 sites every round
        raw["privacy"] = {"mode": "client", "noise_placement": "distributed", "epsilon": TARGET_EPSILON,
                          "delta": DELTA, "accountant": PNEUMONIA_DP["accountant"]}
    with warnings.catch_warnings():  # "not for production" (seeded noise): wanted here, runs repeat
        warnings.simplefilter("ignore")
        fed = build_federation(validate_scenario(raw), dataset=sub)
    ins = FitIns(run_id="privacy-bench-secagg", round_num=0, parameters=get_flat_params(model))
    got = fed.stages.collector.collect(fed.transport, [s.site_id for s in sub.sites], ins)
    if got.updates.shape[0] != 1 or len(got.participants) != 5:
        raise RuntimeError(f"expected one unmasked mean of 5 sites, got {got.updates.shape[0]} row(s) "
                           f"from {got.participants} (failures: {got.failures})")
    return got.updates[0], site_mechanism(fed.sites[0])


def secagg_inversion(ds, model, per_site: int, budget: Budget, rng, seed: int, mean_image: np.ndarray,
                     distractors: np.ndarray, *, root: str, client_dp: bool = False, trials: int | None = None):
    """Batch inversion of what the server unmasks from 5 sites (``per_site`` records each).

    One local step over equal-sized sites makes the unmasked mean exactly -lr times one batch
    gradient of 5 x per_site records, the attacker's best case; the attack optimizes that many
    dummy images (labels by iDLG) and is scored by Hungarian matching against all of them
    (Geiping et al.'s batch protocol). Also run: one dummy image fit to the same mean, scored
    against the target site's records; it converges to an average-looking X-ray, so it is shown
    beside the dataset-mean image.
    """
    t0 = time.perf_counter()
    trials = trials or (budget.secagg_trials_b1 if per_site == 1 else budget.secagg_trials)
    psnrs, target_psnrs, ssims, hits, chance, first = [], [], [], 0, 0.0, None
    one_image, mean_ref, chance_perm, reid, reid_mean, trial_means, kept = [], [], 0.0, [], [], [], []
    for t in range(trials):
        picks = [np.sort(rng.choice(len(s.y_train), per_site, replace=False)) for s in ds.sites[:5]]
        xs = [s.x_train[j] for s, j in zip(ds.sites[:5], picks)]
        ys = [s.y_train[j] for s, j in zip(ds.sites[:5], picks)]
        row, mechanism = secure_round_view(ds, model, picks, seed=seed + t, root=root, client_dp=client_dp)
        g = (-row / SECAGG_LR).astype(np.float32)  # one SGD step: delta = -lr * gradient
        x, y = np.concatenate(xs), np.concatenate(ys)
        r = inverting_gradients(model, g, batch_size=len(y), input_shape=ds.input_shape,
                                iterations=budget.ig_iterations, seed=seed + t)
        sc = score_reconstruction(r.images, x, recovered_labels=r.labels, true_labels=y)
        psnrs += list(sc.psnr)
        trial_means.append(float(np.mean(sc.psnr)))
        target_psnrs += list(sc.psnr[:per_site])  # site 0 is the target site
        ssims += list(sc.ssim)
        reid += list(reidentified(r.images[sc.perm], x, distractors))
        reid_mean += list(reidentified(np.broadcast_to(mean_image, x.shape), x, distractors))
        kept.append((x, r.images))
        hits += int(round(sc.label_accuracy * len(y)))
        chance += max(y.mean(), 1 - y.mean()) * len(y)
        # A matching that ignores the images, given the recovered count of positives: the baseline
        # that tells whether the reconstructions themselves carry the diagnosis.
        chance_perm += image_blind_label_accuracy(r.labels, y) * len(y)
        if first is None:
            first = (x, r.images[sc.perm])
        one = inverting_gradients(model, g, batch_size=1, input_shape=ds.input_shape,
                                  iterations=budget.ig_iterations, seed=seed + t).images[0]
        one_image += list(psnr(np.broadcast_to(one, xs[0].shape), xs[0]))
        mean_ref += list(psnr(np.broadcast_to(mean_image, xs[0].shape), xs[0]))
    n = len(psnrs)
    control = reidentified_control(kept, distractors)
    return {"sites": 5, "records_per_site": per_site, "trials": trials, "images": n,
            "psnr_mean": float(np.mean(psnrs)), "psnr_median": float(np.median(psnrs)),
            # Images of one aggregate share its fate: the interval is over aggregates, not images.
            "psnr_mean_ci95": mean_interval(trial_means), "psnr_per_aggregate": trial_means,
            "psnr_target_site_mean": float(np.mean(target_psnrs)), "ssim_mean": float(np.mean(ssims)),
            "psnr_ge_20_fraction": float(np.mean(np.array(psnrs) >= 20)),
            "label_accuracy": hits / n, "label_accuracy_ci95": list(wilson_interval(hits, n)),
            "label_chance": chance / n, "label_chance_count_preserving": chance_perm / n,
            **reid_figures(reid, reid_mean, len(distractors), control),
            "one_image_psnr_target_site_mean": float(np.mean(one_image)),
            "mean_image_psnr_target_site_mean": float(np.mean(mean_ref)),
            "dp_mechanism": mechanism, "seconds": time.perf_counter() - t0}, first


def pct(x) -> str:
    return "n/a" if x is None else f"{x:.1%}"


def ci_text(ci, trials: int) -> str:
    return f"95% CI {ci[0]:.1f}-{ci[1]:.1f} over {trials} aggregates" if ci else f"{trials} aggregate"


def mean_interval(values) -> list[float] | None:
    """Student-t 95 % interval of a mean (None below 2 values)."""
    v = np.asarray(values, dtype=np.float64)
    if v.size < 2:
        return None
    from scipy.stats import t as student_t

    half = float(student_t.ppf(0.975, v.size - 1) * v.std(ddof=1) / np.sqrt(v.size))
    return [float(v.mean() - half), float(v.mean() + half)]


def reid_figures(hits, mean_hits, num_distractors: int, control=None) -> dict:
    """Re-identification rate with its 95 % interval, the matched control's, the mean image's, chance."""
    k, n = int(np.sum(hits)), len(hits)
    out = {"reidentified": k / n, "reidentified_ci95": list(wilson_interval(k, n)),
           "reidentified_mean_image": float(np.mean(mean_hits)), "reidentified_chance": 1 / (num_distractors + 1),
           "reidentified_control": None, "reidentified_control_ci95": None}
    if control is not None:
        kc = int(np.sum(control))
        out |= {"reidentified_control": kc / len(control),
                "reidentified_control_ci95": list(wilson_interval(kc, len(control)))}
    return out


def balanced_pick(y: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    kn = min(k // 2, len(neg))
    return np.sort(np.r_[rng.choice(neg, kn, replace=False), rng.choice(pos, k - kn, replace=False)])


def inversion_section(ds, budget: Budget, seed: int, sigma: float, trained: nn.Module, out: Path,
                      root: str) -> dict:
    rng = np.random.default_rng(seed)
    shape = ds.input_shape
    fresh = create_model("cnn", input_shape=shape, seed=seed)
    target_site = ds.sites[0]
    idx = balanced_pick(target_site.y_train, budget.inv_images, rng)
    xs, ys = target_site.x_train[idx], target_site.y_train[idx]
    it = budget.ig_iterations
    res: dict = {}
    grid: dict[str, np.ndarray] = {}
    grid_psnr: dict[str, list] = {}
    # Re-identification candidates: 99 other patients, from the held-out splits (no batch below
    # draws from them), with their own random stream so the draws above and below do not move.
    pooled_test = np.concatenate([s.x_test for s in ds.sites])
    distractors = pooled_test[np.random.default_rng([seed, 0x1D]).choice(len(pooled_test), 99, replace=False)]
    mean_image = np.concatenate([s.x_train for s in ds.sites]).mean(0)

    def run(name, model, updates, attack, **kw):
        t0 = time.perf_counter()
        recs, labs = [], []
        for i, upd in enumerate(updates):
            r = attack(model, upd, batch_size=1, input_shape=shape, seed=seed + i, **kw)
            recs.append(r.images[0])
            labs.append(r.labels[0])
        n = len(updates)
        sc = score_reconstruction(np.stack(recs), xs[:n], recovered_labels=np.array(labs), true_labels=ys[:n])
        d = sc.as_dict() | {"n": n, "psnr_ge_20_fraction": float(np.mean(sc.psnr >= 20)),
                            **reid_figures(reidentified(np.stack(recs), xs[:n], distractors),
                                           reidentified(np.broadcast_to(mean_image, xs[:n].shape), xs[:n],
                                                        distractors), len(distractors),
                                           reidentified_control(
                                               [(xs[i : i + 1], recs[i][None]) for i in range(n)], distractors)),
                            "seconds_per_image": (time.perf_counter() - t0) / n}
        res[name] = d
        if n == len(xs):
            grid[name], grid_psnr[name] = np.stack(recs), list(sc.psnr)
        log(f"  inversion {name}: PSNR {d['psnr_mean']:.1f} dB, SSIM {d['ssim_mean']:.2f}, "
            f"labels {d['label_accuracy']:.2f}, {d['seconds_per_image']:.1f}s/img")
        return d

    ig = lambda m, u, **kw: inverting_gradients(m, u, iterations=it, **kw)  # noqa: E731
    grads = [shared_gradient(fresh, xs[i : i + 1], ys[i : i + 1]) for i in range(len(ys))]
    run("ig_fedsgd_b1", fresh, grads, ig)
    run("dlg_fedsgd_b1", fresh, grads[: budget.dlg_images], lambda m, u, **kw: dlg(m, u, **kw))
    grads_t = [shared_gradient(trained, xs[i : i + 1], ys[i : i + 1]) for i in range(min(4, len(ys)))]
    run("ig_fedsgd_b1_trained_model", trained, grads_t, ig)

    # DP: one DP-SGD step on the record with the target site's own noise multiplier (the
    # product's calibration for epsilon <= 8): the attacker's best case under DP.
    dp_updates = [dp_single_update(fresh, xs[i : i + 1], ys[i : i + 1], sigma, MAX_GRAD_NORM, seed + 100 + i)
                  for i in range(len(ys))]
    run("ig_fedsgd_b1_dp", fresh, dp_updates, ig)
    # The attack takes its labels from iDLG (no optimization), so label recovery is scored on
    # many more records than the images: 8 labels cannot tell 62 % from a coin flip.
    res["label_recovery"] = label_recovery(fresh, target_site, budget.label_records, sigma, rng, seed)

    # Secure aggregation over 5 sites: the server sees only the mean of their messages.
    secagg_inputs = {}
    for per_site in (1, budget.secagg_batch):
        name = f"ig_secagg5_b{per_site}_sites"
        res[name], secagg_inputs[name] = secagg_inversion(ds, fresh, per_site, budget, rng, seed, mean_image,
                                                          distractors, root=root)
        log(f"  inversion {name}: PSNR {res[name]['psnr_mean']:.1f} dB (target site "
            f"{res[name]['psnr_target_site_mean']:.1f} dB), labels {res[name]['label_accuracy']:.2f} "
            f"(chance {res[name]['label_chance']:.2f}), {res[name]['seconds']:.0f}s")
    # SecAgg with client-level DP (distributed noise): FedShield's way to have both. Own random
    # stream, so the figures above do not move when this one is added.
    name = "ig_secagg5_b1_sites_ddp"
    res[name], _ = secagg_inversion(ds, fresh, 1, budget, np.random.default_rng([seed, 0xDD]), seed, mean_image,
                                    distractors, root=root, client_dp=True, trials=budget.secagg_dp_trials)
    res[name] |= {"rounds_accounted": PNEUMONIA["rounds"], "epsilon": TARGET_EPSILON}
    log(f"  inversion {name} (z {res[name]['dp_mechanism']['noise_multiplier']:.3f}): PSNR {res[name]['psnr_mean']:.1f} dB, labels "
        f"{res[name]['label_accuracy']:.2f} (image-blind {res[name]['label_chance_count_preserving']:.2f})")
    true5, recs5 = secagg_inputs["ig_secagg5_b1_sites"]
    save_inversion_grid(out / "inversion_secagg.png", true5, {"SecAgg, 5 sites x 1 record": recs5},
                        psnrs={"SecAgg, 5 sites x 1 record": list(psnr(recs5, true5))},
                        title="What the server inverts from the sum of 5 sites (batch 1 each)")

    # Larger batches and a multi-step FedAvg update (Geiping's simulated local steps).
    for b in budget.batch_sizes:
        pool = target_site
        bidx = np.sort(rng.choice(len(pool.y_train), b, replace=False))
        xb, yb = pool.x_train[bidx], pool.y_train[bidx]
        t0 = time.perf_counter()
        r = inverting_gradients(fresh, shared_gradient(fresh, xb, yb), batch_size=b, input_shape=shape,
                                iterations=it, seed=seed)
        sc = score_reconstruction(r.images, xb, recovered_labels=r.labels, true_labels=yb)
        res[f"ig_fedsgd_b{b}"] = sc.as_dict() | {"n": b, "seconds": time.perf_counter() - t0}
        log(f"  inversion ig_fedsgd_b{b}: PSNR {sc.mean_psnr:.1f} dB, labels {sc.label_accuracy:.2f}")
    b = budget.fedavg_batch
    bidx = np.sort(rng.choice(len(target_site.y_train), b, replace=False))
    xb, yb = target_site.x_train[bidx], target_site.y_train[bidx]
    kw = dict(local_steps=4, local_lr=0.05, minibatch_size=max(1, b // 2))
    t0 = time.perf_counter()
    upd = fedavg_update(fresh, xb, yb, **kw)
    r = inverting_gradients(fresh, upd, batch_size=b, input_shape=shape, iterations=it, seed=seed,
                            update_kind="delta", **kw)
    sc = score_reconstruction(r.images, xb, recovered_labels=r.labels, true_labels=yb)
    res[f"ig_fedavg_b{b}_4steps"] = sc.as_dict() | {"n": b, "seconds": time.perf_counter() - t0}
    log(f"  inversion ig_fedavg_b{b}_4steps: PSNR {sc.mean_psnr:.1f} dB, labels {sc.label_accuracy:.2f}")

    # What PSNR means for chest X-rays: a data-independent guess already scores this.
    pooled = np.concatenate([s.x_train for s in ds.sites])
    res["reference_psnr_dataset_mean_image"] = float(psnr(np.broadcast_to(pooled.mean(0), xs.shape), xs).mean())
    res["reference_psnr_uniform_noise"] = float(
        psnr(np.random.default_rng(seed).random(xs.shape), xs).mean())
    res["label_chance"] = float(max(ys.mean(), 1 - ys.mean()))
    save_inversion_grid(out / "inversion_grid.png", xs, grid, psnrs=grid_psnr,
                        title="Batch-1 inversion, round-1 model")
    return res


def mia_section(ds, root: str, budget: Budget, seed: int, targets: dict, out: Path) -> dict:
    """Loss threshold and offline LiRA against each target in ``targets``: name -> (model, whether
    it was trained with DP). LiRA's shadows re-run the target's federated recipe on population data
    (centrally trained shadows mis-model a federated, non-IID target: LiRA AUC fell below 0.5)."""
    rng = np.random.default_rng(seed + 1)
    xtr = np.concatenate([s.x_train for s in ds.sites])
    ytr = np.concatenate([s.y_train for s in ds.sites])
    xte = np.concatenate([s.x_test for s in ds.sites])
    yte = np.concatenate([s.y_test for s in ds.sites])
    k = min(budget.mia_targets, len(yte))
    mem = rng.choice(len(ytr), k, replace=False)
    non = rng.choice(len(yte), k, replace=False)
    x = np.concatenate([xtr[mem], xte[non]])
    y = np.concatenate([ytr[mem], yte[non]])
    is_member = np.r_[np.ones(k, bool), np.zeros(k, bool)]
    pop_mask = np.ones(len(ytr), bool)
    pop_mask[mem] = False
    pop_x, pop_y = xtr[pop_mask], ytr[pop_mask]
    model_params = PNEUMONIA["model"].get("params", {})
    factory = lambda s: create_model(PNEUMONIA["model"]["name"], input_shape=ds.input_shape, seed=s,  # noqa: E731
                                     **model_params)
    res: dict = {}
    curves = {}
    # Each shadow holds half the population, so half the rounds see each record as often.
    shadow_rounds = max(1, round(budget.mia_rounds * 0.5 * len(pop_y) / len(ytr)))
    for name, (model, private) in targets.items():
        train = federated_shadow_trainer(ds, root, private=private, rounds=shadow_rounds)
        t0 = time.perf_counter()
        lt = evaluate_mia(loss_threshold_scores(model, x, y), is_member)
        t_loss = time.perf_counter() - t0
        t0 = time.perf_counter()
        # DP shadows cost several times more (per-example gradients); a pooled variance needs few.
        n_shadows = budget.shadows if not private else max(2, budget.shadows // 2)
        shadows = train_shadow_models(factory, train, pop_x, pop_y, num_shadows=n_shadows, seed=seed)
        lira = evaluate_mia(lira_offline_scores(model, shadows, x, y), is_member)
        t_lira = time.perf_counter() - t0
        res[name] = {"loss_threshold": lt.as_dict() | {"seconds": t_loss},
                     "lira_offline": lira.as_dict() | {"seconds": t_lira, "shadows": n_shadows,
                                                       "shadow_rounds": shadow_rounds},
                     "auc": max(lt.auc, lira.auc), "test_accuracy": accuracy(model, *ds.pooled_test),
                     "test_auc": central_auc(model, *ds.pooled_test)}
        curves[f"{name} / loss"] = (lt.fpr, lt.tpr)
        curves[f"{name} / LiRA"] = (lira.fpr, lira.tpr)
        log(f"  MIA {name} (test AUC {res[name]['test_auc']:.3f}): loss AUC {lt.auc:.3f}, LiRA AUC {lira.auc:.3f} "
            f"TPR@1% {lira.tpr_at_1pct_fpr:.3f} ({t_lira:.0f}s)")
    res["targets_per_side"] = k
    save_roc_plot(out / "mia_roc.png", curves, title="Membership inference on the global model")
    return res


def central_auc(model: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    with torch.no_grad():
        model.eval()
        z = model(torch.as_tensor(np.asarray(x, dtype=np.float32))).reshape(-1).numpy()
    return float(roc_auc(z, np.asarray(y).reshape(-1) == 1))


def adversarial_section(ds, budget, seed, undefended, adv_model, sites, params, out) -> dict:
    xt, yt = ds.pooled_test
    sub = np.sort(np.random.default_rng(seed + 2).choice(len(yt), min(budget.adv_eval, len(yt)), replace=False))
    xe, ye = xt[sub], yt[sub]
    res: dict = {}
    curves = {}
    for name, model in (("undefended", undefended), ("adv_training", adv_model)):
        t0 = time.perf_counter()
        c = robust_accuracy_curve(model, xe, ye, IMAGE_EPSILONS, steps=budget.pgd_steps, seed=seed)
        curves[name] = c
        res[name] = {"clean_accuracy": accuracy(model, xt, yt), "curve": c,
                     "pgd_2_255": c["pgd"][2], "seconds": time.perf_counter() - t0}
        log(f"  adversarial {name}: clean {res[name]['clean_accuracy']:.3f}, PGD@2/255 {c['pgd'][2]:.3f}, "
            f"PGD@8/255 {c['pgd'][4]:.3f}")
    # Transfer: site 0's local model after one more round of local training.
    local = create_model("cnn", input_shape=ds.input_shape, seed=seed)
    set_flat_params(local, params)
    train_locally(local, sites[0].data.x_train, sites[0].data.y_train, sites[0].train_config, seed=seed + 7)
    for eps_name, eps in (("2_255", 2 / 255), ("8_255", 8 / 255)):
        res[f"transfer_site0_to_global_{eps_name}"] = {
            tgt: transfer_attack(local, m, xe, ye, eps, steps=budget.pgd_steps, seed=seed)
            for tgt, m in (("undefended", undefended), ("adv_training", adv_model))}
    log(f"  transfer 8/255: {res['transfer_site0_to_global_8_255']['undefended']}")
    save_robustness_plot(out / "robust_accuracy.png", curves, title="PneumoniaMNIST robust accuracy")
    return res


def tabular_section(data_root: str, budget: Budget, seed: int) -> dict:
    hd = load_dataset("heart-disease", data_dir=data_root, seed=seed)
    cfg = TrainConfig(local_steps=10, batch_size=16, learning_rate=0.05)
    model, *_ = fedavg(hd, "mlp", cfg, budget.tab_rounds, seed=seed)
    x, y = hd.pooled_test_or_concat()
    c = robust_accuracy_curve(model, x, y, TABULAR_EPSILONS, steps=budget.pgd_steps, clip=None, seed=seed)
    log(f"  tabular heart-disease MLP: {c}")
    return {"model": "mlp", "eps_units": "standard deviations", "curve": c}


# ----------------------------------------------------------------------------- main


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="tiny budget smoke run (about a minute or two)")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--out-dir", default=str(REPO / "runs" / "privacy_attacks"))
    ap.add_argument("--seed", type=int, default=0)
    # Trained at 8/255, half clean and half adversarial loss: of (4, 8)/255 x weight (1, 0.5) x (4, 8)
    # rounds this was the one better than undefended at every eps with no clean loss (2/255 barely
    # moves: the ~20 test images it flips sit on the decision boundary of every model we trained).
    ap.add_argument("--adv-eps-train", type=float, default=8.0, help="PGD-AT radius in 1/255 units")
    ap.add_argument("--adv-weight", type=float, default=0.5, help="weight of the adversarial loss (1 = Madry)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)  # 2 shared cores: intra-op threads only contend
    torch.manual_seed(args.seed)
    budget = QUICK if args.quick else DEFAULT
    root = data_dir(args.data_dir)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t_all = time.perf_counter()
    timings: dict[str, float] = {}

    ds = load_dataset("pneumonia", data_dir=root, num_sites=5, seed=args.seed)
    cfg = TrainConfig(local_steps=budget.local_steps, **TRAIN_CFG)

    t0 = time.perf_counter()
    warm_rounds = budget.rounds - budget.adv_rounds
    _, _, warm, _ = fedavg(ds, "cnn", cfg, warm_rounds, seed=args.seed)
    undefended, sites, params, _ = fedavg(ds, "cnn", cfg, budget.adv_rounds, seed=args.seed,
                                          start_params=warm, first_round=warm_rounds)
    timings["train_undefended"] = time.perf_counter() - t0
    log(f"trained undefended FedAvg ({timings['train_undefended']:.0f}s)")
    # Federated adversarial training: the same clean warm-up, then PGD-AT in every
    # site's local steps for the last rounds (from scratch, PGD-AT on these tiny,
    # 85%-positive sites collapses to a constant predictor within our budget).
    t0 = time.perf_counter()
    adv_cfg = AdversarialTrainingConfig(eps=args.adv_eps_train / 255, steps=3, adversarial_weight=args.adv_weight)
    adv_model, *_ = fedavg(ds, "cnn", cfg, budget.adv_rounds, seed=args.seed, adv=adv_cfg,
                           start_params=warm, first_round=warm_rounds)
    timings["train_adversarial"] = time.perf_counter() - t0
    log(f"trained PGD-AT FedAvg ({timings['train_adversarial']:.0f}s)")
    t0 = time.perf_counter()
    plain_model, _ = recipe_run(ds, root, args.seed, private=False, rounds=budget.mia_rounds)
    timings["train_recipe_plain"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    dp_model, dp_summary = recipe_run(ds, root, args.seed, private=True, rounds=budget.mia_rounds)
    timings["train_recipe_dp"] = time.perf_counter() - t0
    sigmas = {sid: float(v["noise_multiplier"]) for sid, v in dp_summary["noise"].items()}
    sigma = sigmas[ds.sites[0].site_id]  # the inversion's target site
    eps_dp = max(dp_summary["final_epsilon"].values())
    log(f"trained the DP benchmark's recipe with and without DP-SGD ({timings['train_recipe_plain']:.0f}s, "
        f"{timings['train_recipe_dp']:.0f}s): noise multipliers {', '.join(f'{v:.3f}' for v in sigmas.values())}, "
        f"epsilon spent {eps_dp:.3f} at delta {DELTA}")

    t0 = time.perf_counter()
    inv = inversion_section(ds, budget, args.seed, sigma, undefended, out, root)
    timings["inversion"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    mia = mia_section(ds, root, budget, args.seed, {"undefended": (plain_model, False), "dp": (dp_model, True)}, out)
    timings["membership"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    adv = adversarial_section(ds, budget, args.seed, undefended, adv_model, sites, params, out)
    timings["adversarial"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    tab = tabular_section(root, budget, args.seed)
    timings["tabular"] = time.perf_counter() - t0

    report = {
        "budget": budget.__dict__, "adv_training": {"eps_train": adv_cfg.eps, "pgd_steps": adv_cfg.steps,
                                                     "adversarial_weight": adv_cfg.adversarial_weight,
                                                     "clean_warmup_rounds": warm_rounds,
                                                     "adversarial_rounds": budget.adv_rounds},
        "dp": {"mechanism": dp_summary["mechanism"], "recipe": {**PNEUMONIA, "rounds": budget.mia_rounds},
               "noise_multiplier_per_site": sigmas, "epsilon_spent_max": eps_dp, "epsilon_target": TARGET_EPSILON,
               "delta": DELTA, "noise": dp_summary["noise"]},
        "dp_model_clean_accuracy": mia["dp"]["test_accuracy"],
        "inversion": inv, "membership": mia, "adversarial": adv, "tabular": tab, "timings_s": timings,
    }
    (out / "report.json").write_text(json.dumps(report, indent=2, default=float))

    lab = inv["label_recovery"]
    rec = inv[f"ig_secagg5_b{budget.secagg_batch}_sites"]
    rows = [
        ("Inverting Gradients, FedSGD b=1, round-1 model", f"PSNR {inv['ig_fedsgd_b1']['psnr_mean']:.1f} dB "
         f"(>=20 dB: {inv['ig_fedsgd_b1']['psnr_ge_20_fraction']:.0%}), SSIM {inv['ig_fedsgd_b1']['ssim_mean']:.2f}, "
         f"labels {inv['ig_fedsgd_b1']['label_accuracy']:.0%}"),
        ("DLG (L2), FedSGD b=1", f"PSNR {inv['dlg_fedsgd_b1']['psnr_mean']:.1f} dB"),
        ("IG on trained global model, b=1", f"PSNR {inv['ig_fedsgd_b1_trained_model']['psnr_mean']:.1f} dB"),
        *[(f"IG FedSGD b={b}", f"PSNR {inv[f'ig_fedsgd_b{b}']['psnr_mean']:.1f} dB, labels "
           f"{inv[f'ig_fedsgd_b{b}']['label_accuracy']:.0%}") for b in budget.batch_sizes],
        (f"IG FedAvg b={budget.fedavg_batch}, 4 local steps",
         f"PSNR {inv[f'ig_fedavg_b{budget.fedavg_batch}_4steps']['psnr_mean']:.1f} dB"),
        (f"IG under DP (noise multiplier {sigma:.3f}, eps spent {eps_dp:.2f})",
         f"PSNR {inv['ig_fedsgd_b1_dp']['psnr_mean']:.1f} dB; iDLG labels on {lab['records']} records "
         f"{lab['dp']['accuracy']:.3f} (95% CI {lab['dp']['ci95'][0]:.3f}-{lab['dp']['ci95'][1]:.3f}; chance 0.5; "
         f"undefended {lab['undefended']['accuracy']:.3f})"),
        *[(f"IG under SecAgg, 5 sites x {v['records_per_site']} record(s), batch protocol"
           + (" (unsafe_allow_small_updates)" if v["records_per_site"] < MIN_RECORDS_PER_UPDATE else ""),
           f"PSNR {v['psnr_mean']:.1f} dB over {v['images']} images ({ci_text(v['psnr_mean_ci95'], v['trials'])}; "
           f"target site {v['psnr_target_site_mean']:.1f} dB), "
           f"labels {v['label_accuracy']:.3f} (95% CI {v['label_accuracy_ci95'][0]:.3f}-"
           f"{v['label_accuracy_ci95'][1]:.3f}; chance: majority {v['label_chance']:.3f}, image-blind matching "
           f"{v['label_chance_count_preserving']:.3f})")
          for v in (inv["ig_secagg5_b1_sites"], inv[f"ig_secagg5_b{budget.secagg_batch}_sites"])],
        ("IG under SecAgg + client-level DP (distributed noise, noise multiplier "
         f"{inv['ig_secagg5_b1_sites_ddp']['dp_mechanism']['noise_multiplier']:.3f}, eps 8 over "
         f"{inv['ig_secagg5_b1_sites_ddp']['rounds_accounted']} rounds), 5 sites x 1",
         f"PSNR {inv['ig_secagg5_b1_sites_ddp']['psnr_mean']:.1f} dB ({ci_text(inv['ig_secagg5_b1_sites_ddp']['psnr_mean_ci95'], inv['ig_secagg5_b1_sites_ddp']['trials'])}), labels "
         f"{inv['ig_secagg5_b1_sites_ddp']['label_accuracy']:.3f} (image-blind "
         f"{inv['ig_secagg5_b1_sites_ddp']['label_chance_count_preserving']:.3f})"),
        ("Re-identified: reconstruction nearest its own record among it and 99 others "
         f"(chance {inv['ig_fedsgd_b1']['reidentified_chance']:.0%})",
         "; ".join(f"{k} {inv[v]['reidentified']:.1%} (95% CI {inv[v]['reidentified_ci95'][0]:.1%}-"
                   f"{inv[v]['reidentified_ci95'][1]:.1%}; unrelated reconstructions, same matching: "
                   f"{pct(inv[v]['reidentified_control'])}; mean image {inv[v]['reidentified_mean_image']:.1%})"
                   for k, v in reid_rows(budget).items())),
        *[(f"IG under SecAgg, 5 sites x {v['records_per_site']}, one dummy image vs the target site",
           f"PSNR {v['one_image_psnr_target_site_mean']:.1f} dB (the dataset-mean image: "
           f"{v['mean_image_psnr_target_site_mean']:.1f} dB)")
          for v in (inv["ig_secagg5_b1_sites"], rec)],
        ("reference: dataset-mean image / noise", f"{inv['reference_psnr_dataset_mean_image']:.1f} dB / "
         f"{inv['reference_psnr_uniform_noise']:.1f} dB"),
        ("MIA targets: the DP benchmark's recipe, test AUC without / with DP",
         f"{mia['undefended']['test_auc']:.3f} / {mia['dp']['test_auc']:.3f}"),
        ("MIA undefended (loss / LiRA AUC)", f"{mia['undefended']['loss_threshold']['auc']:.3f} / "
         f"{mia['undefended']['lira_offline']['auc']:.3f}, LiRA TPR@1%/0.1% "
         f"{mia['undefended']['lira_offline']['tpr_at_1pct_fpr']:.3f}/"
         f"{mia['undefended']['lira_offline']['tpr_at_0.1pct_fpr']:.3f}"),
        ("MIA DP (loss / LiRA AUC)", f"{mia['dp']['loss_threshold']['auc']:.3f} / {mia['dp']['lira_offline']['auc']:.3f}"),
        ("Clean accuracy undefended / PGD-AT", f"{adv['undefended']['clean_accuracy']:.3f} / "
         f"{adv['adv_training']['clean_accuracy']:.3f}"),
        ("PGD 2/255 robust accuracy undefended / PGD-AT", f"{adv['undefended']['pgd_2_255']:.3f} / "
         f"{adv['adv_training']['pgd_2_255']:.3f}"),
        ("Transfer site0 -> global, PGD 8/255", f"global acc {adv['transfer_site0_to_global_8_255']['undefended']['target_accuracy_on_transferred']:.3f}"),
    ]
    print("\n| experiment | result |\n|---|---|")
    for k, v in rows:
        print(f"| {k} | {v} |")
    print("| timings (s) | " + ", ".join(f"{k} {v:.0f}" for k, v in timings.items()) + " |")
    print(f"\nfigures and report.json in {out}")
    headline({
        "inversion_psnr_undefended": round(inv["ig_fedsgd_b1"]["psnr_mean"], 2),
        "inversion_psnr_dp": round(inv["ig_fedsgd_b1_dp"]["psnr_mean"], 2),
        # FedShield's secure aggregation: 5 sites, each update mixing the 16 records a site without DP
        # noise needs at least (fedshield.client.disclosure); the interval is over aggregates.
        "inversion_psnr_secagg": round(rec["psnr_mean"], 2),
        "inversion_psnr_secagg_ci95": [round(x, 2) for x in rec["psnr_mean_ci95"]] if rec["psnr_mean_ci95"] else None,
        # Like for like with the undefended figure (each site sends one record's gradient): a site
        # refuses this unless secure_aggregation.unsafe_allow_small_updates = true.
        "inversion_psnr_secagg_1_record_per_site_unsafe": round(inv["ig_secagg5_b1_sites"]["psnr_mean"], 2),
        "inversion_psnr_secagg_client_dp": round(inv["ig_secagg5_b1_sites_ddp"]["psnr_mean"], 2),
        # One site's 16-record gradient without secure aggregation: what the batch alone does.
        "inversion_psnr_single_site_batch16": round(inv["ig_fedsgd_b16"]["psnr_mean"], 2)
        if "ig_fedsgd_b16" in inv else None,
        "inversion_label_accuracy_dp": round(lab["dp"]["accuracy"], 4),
        # Chance: the best guess that ignores the images, the majority label of the aggregate (its
        # count is what iDLG reads off the sum); image-blind: a random matching keeping that count.
        "inversion_label_accuracy_secagg": round(rec["label_accuracy"], 4),
        "inversion_label_chance_secagg": round(rec["label_chance"], 4),
        "inversion_label_image_blind_secagg": round(rec["label_chance_count_preserving"], 4),
        "inversion_label_accuracy_secagg_1_record_per_site_unsafe": round(
            inv["ig_secagg5_b1_sites"]["label_accuracy"], 4),
        "inversion_label_chance_secagg_1_record_per_site_unsafe": round(inv["ig_secagg5_b1_sites"]["label_chance"], 4),
        # Re-identification (reconstruction nearest its own record among 100): what PSNR only hints at.
        **{f"inversion_reidentified_{k}": round(inv[v]["reidentified"], 4) for k, v in reid_rows(budget).items()},
        # The same matching applied to reconstructions of an unrelated aggregate: what the batch
        # protocol's own selection gives without any leak (the baseline for the figures above).
        **{f"inversion_reidentified_{k}_control": None if inv[v]["reidentified_control"] is None
           else round(inv[v]["reidentified_control"], 4) for k, v in reid_rows(budget).items()},
        "inversion_reidentified_chance": round(inv["ig_fedsgd_b1"]["reidentified_chance"], 4),
        # What "no leak" scores: the dataset-mean X-ray carries no patient's data yet
        # already matches each target at this PSNR (chest X-rays look alike).
        "inversion_psnr_reference_mean_image": round(inv["reference_psnr_dataset_mean_image"], 2),
        "mia_auc_undefended": round(mia["undefended"]["auc"], 4),
        "mia_auc_dp": round(mia["dp"]["auc"], 4),
        "pgd_robust_accuracy_undefended": round(adv["undefended"]["pgd_2_255"], 4),
        "pgd_robust_accuracy_adv_training": round(adv["adv_training"]["pgd_2_255"], 4),
        "adv_training_clean_drop": round(adv["undefended"]["clean_accuracy"] - adv["adv_training"]["clean_accuracy"], 4),
        "seconds": round(time.perf_counter() - t_all, 1),
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
