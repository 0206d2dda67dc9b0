"""Privacy and evasion red team on PneumoniaMNIST (and UCI heart disease): issue 8.

Run:  .venv/bin/python benchmarks/privacy_attacks.py [--quick] [--data-dir D] [--out-dir runs/privacy_attacks]

What it shows, and why each piece is set up as it is:

* Gradient inversion against one site's update. The victim model is the
  round-1 global model, i.e. freshly initialized -- exactly what the server
  sends first and what the literature attacks; the trained global model is
  attacked too and reported separately. Undefended (FedSGD batch 1..16 and a
  multi-step FedAvg update), under DP-SGD (per-example clip + Gaussian noise,
  the same noise multiplier whose accounting gives epsilon <= 8 for the DP
  training below) and under secure aggregation over 5 sites (the server sees
  only the sum; masks cancel exactly, so we hand the attacker the sum).
* Membership inference (loss threshold, offline LiRA) against the undefended
  and the DP-trained global model.
* FGSM / PGD robust accuracy, transfer from a site's local model to the global
  model, and federated adversarial training (PGD-AT inside local steps).

The federation loop here is a plain weighted FedAvg over ``Site.train`` (the
real client code, with its replaceable ``local_trainer``) so the benchmark
does not depend on server stages (screening, robust aggregation) that are
orthogonal to these attacks.

DP-SGD lives in this script on purpose (a small torch.func per-example
clipping trainer): fedshield.privacy (Opacus) is owned elsewhere and was not
ready; the accounting uses Opacus' RDP analysis of the sampled Gaussian
mechanism with q = batch / site size, treating shuffled fixed-size batches as
Poisson sampling (the usual, slightly optimistic, approximation).

Progress goes to stderr, the table to stdout, and the last stdout line is the
one JSON headline.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, grad, vmap

from _common import REPO, data_dir, headline

from fedshield.client import Site, TrainConfig
from fedshield.client.adversarial_training import AdversarialTrainingConfig, apply_adversarial_training
from fedshield.client.trainer import positive_class_weight, train_locally
from fedshield.data import load_dataset
from fedshield.messages import FitIns
from fedshield.models import create_model
from fedshield.models.params import get_flat_params, set_flat_params
from fedshield.redteam.privacy import (
    IMAGE_EPSILONS,
    TABULAR_EPSILONS,
    accuracy,
    dlg,
    evaluate_mia,
    fedavg_update,
    inverting_gradients,
    lira_offline_scores,
    loss_threshold_scores,
    psnr,
    robust_accuracy_curve,
    score_reconstruction,
    shared_gradient,
    train_shadow_models,
    transfer_attack,
)
from fedshield.redteam.privacy.plots import save_inversion_grid, save_robustness_plot, save_roc_plot

DELTA = 1e-5
TARGET_EPSILON = 8.0


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


DEFAULT = Budget(inv_images=8, ig_iterations=300, dlg_images=4, batch_sizes=(4, 16), fedavg_batch=4,
                 rounds=12, local_steps=20, adv_rounds=4, adv_eval=312, pgd_steps=10, shadows=4, mia_targets=300,
                 tab_rounds=20)
QUICK = Budget(inv_images=2, ig_iterations=120, dlg_images=1, batch_sizes=(4,), fedavg_batch=2,
               rounds=3, local_steps=10, adv_rounds=1, adv_eval=96, pgd_steps=5, shadows=2, mia_targets=100,
               tab_rounds=5)

TRAIN_CFG = dict(batch_size=16, learning_rate=0.05, momentum=0.9, class_weighting=True)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- DP-SGD


def dp_epsilon(noise_multiplier: float, sample_rate: float, steps: int, delta: float = DELTA) -> float:
    from opacus.accountants.analysis.rdp import compute_rdp, get_privacy_spent

    orders = [1 + x / 10.0 for x in range(1, 100)] + list(range(12, 128))
    rdp = compute_rdp(q=sample_rate, noise_multiplier=noise_multiplier, steps=steps, orders=orders)
    return float(get_privacy_spent(orders=orders, rdp=rdp, delta=delta)[0])


def calibrate_noise(sample_rate: float, steps: int, target: float = TARGET_EPSILON) -> tuple[float, float]:
    """Smallest noise multiplier on a 0.05 grid whose epsilon is <= target."""
    sigma = 0.5
    while True:
        eps = dp_epsilon(sigma, sample_rate, steps)
        if eps <= target:
            return sigma, eps
        sigma = round(sigma + 0.05, 2)


def make_dp_trainer(noise_multiplier: float, max_grad_norm: float = 1.0):
    """A ``train_locally``-compatible DP-SGD: per-example clip, Gaussian noise, SGD+momentum."""

    def trainer(model: nn.Module, x, y, cfg: TrainConfig, *, seed: int, loss_hook=None) -> float:
        gen = torch.Generator().manual_seed(seed)
        xt = torch.from_numpy(np.asarray(x, dtype=np.float32))
        yt = torch.from_numpy(np.asarray(y, dtype=np.float32))
        pw = torch.tensor(positive_class_weight(y) if cfg.class_weighting else 1.0)
        params = {n: p.detach().clone() for n, p in model.named_parameters()}
        velocity = {n: torch.zeros_like(p) for n, p in params.items()}

        def loss_one(p, xi, yi):
            z = functional_call(model, p, (xi.unsqueeze(0),)).reshape(())
            return nn.functional.binary_cross_entropy_with_logits(z, yi, pos_weight=pw)

        per_example = vmap(grad(loss_one), in_dims=(None, 0, 0))
        n = xt.shape[0]
        b = min(cfg.batch_size, n)
        order, cursor = torch.randperm(n, generator=gen), 0
        model.train()
        for _ in range(cfg.local_steps):
            if cursor + b > n:
                order, cursor = torch.randperm(n, generator=gen), 0
            idx = order[cursor : cursor + b]
            cursor += b
            g = per_example(params, xt[idx], yt[idx])
            norms = torch.sqrt(sum(t.reshape(b, -1).pow(2).sum(1) for t in g.values()))
            factor = (max_grad_norm / (norms + 1e-6)).clamp(max=1.0)
            for name in params:
                noisy = (g[name] * factor.view(-1, *[1] * (g[name].dim() - 1))).sum(0)
                noisy = noisy + torch.randn(noisy.shape, generator=gen) * noise_multiplier * max_grad_norm
                velocity[name] = cfg.momentum * velocity[name] + noisy / b
                params[name] = params[name] - cfg.learning_rate * velocity[name]
        with torch.no_grad():
            for name, p in model.named_parameters():
                p.copy_(params[name])
        return float("nan")

    return trainer


def dp_single_update(model: nn.Module, x, y, noise_multiplier: float, max_grad_norm: float, seed: int) -> np.ndarray:
    """The DP-SGD message for one step: sum of clipped per-example gradients + noise, / B."""
    gen = torch.Generator().manual_seed(seed)
    grads = np.stack([shared_gradient(model, x[i : i + 1], y[i : i + 1]) for i in range(len(y))])
    norms = np.linalg.norm(grads, axis=1, keepdims=True)
    clipped = grads * np.minimum(1.0, max_grad_norm / (norms + 1e-6))
    noise = torch.randn(grads.shape[1], generator=gen, dtype=torch.float64).numpy() * noise_multiplier * max_grad_norm
    return ((clipped.sum(0) + noise) / len(y)).astype(np.float32)


# ----------------------------------------------------------------------------- federation


def fedavg(dataset, model_name: str, cfg: TrainConfig, rounds: int, *, seed: int, trainer=None, adv=None,
           start_params: np.ndarray | None = None, first_round: int = 0):
    """Plain weighted FedAvg over the real ``Site`` client; returns (global model, sites, params, factory)."""

    def factory():
        return create_model(model_name, input_shape=dataset.input_shape, seed=seed)

    sites = [Site(data=s, model_factory=factory, train_config=cfg, seed=seed, site_index=i)
             for i, s in enumerate(dataset.sites)]
    if trainer is not None:
        for s in sites:
            s.local_trainer = trainer
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


def balanced_pick(y: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    kn = min(k // 2, len(neg))
    return np.sort(np.r_[rng.choice(neg, kn, replace=False), rng.choice(pos, k - kn, replace=False)])


def inversion_section(ds, budget: Budget, seed: int, sigma: float, trained: nn.Module, out: Path) -> dict:
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

    # DP: the same clip/noise as the DP training (noise multiplier giving eps <= 8).
    dp_updates = [dp_single_update(fresh, xs[i : i + 1], ys[i : i + 1], sigma, 1.0, seed + 100 + i)
                  for i in range(len(ys))]
    run("ig_fedsgd_b1_dp", fresh, dp_updates, ig)

    # Secure aggregation: the server sees only the sum over 5 sites' batch-1 gradients.
    others = [s for s in ds.sites[1:5]]
    sec_updates = []
    for i in range(len(ys)):
        total = grads[i].astype(np.float64).copy()
        for s in others:
            j = int(rng.integers(len(s.y_train)))
            total += shared_gradient(fresh, s.x_train[j : j + 1], s.y_train[j : j + 1])
        sec_updates.append((total / (1 + len(others))).astype(np.float32))
    run("ig_fedsgd_b1_secagg5", fresh, sec_updates, ig)

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


def mia_section(ds, budget: Budget, seed: int, target: nn.Module, dp_target: nn.Module, cfg: TrainConfig,
                dp_trainer, out: Path) -> dict:
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
    # Match the target's exposure: the same number of epochs over half the population.
    epochs = budget.rounds * budget.local_steps * cfg.batch_size * len(ds.sites) / len(ytr)
    steps = max(1, int(epochs * 0.5 * len(pop_y) / cfg.batch_size))
    shadow_cfg = TrainConfig(**{**cfg.__dict__, "local_steps": steps})
    factory = lambda s: create_model("cnn", input_shape=ds.input_shape, seed=s)  # noqa: E731
    res: dict = {}
    curves = {}
    for name, model, trainer in (("undefended", target, train_locally), ("dp", dp_target, dp_trainer)):
        t0 = time.perf_counter()
        loss_scores = loss_threshold_scores(model, x, y)
        lt = evaluate_mia(loss_scores, is_member)
        t_loss = time.perf_counter() - t0
        t0 = time.perf_counter()
        # DP shadows cost ~5x (per-example gradients): half as many keeps the run
        # under 15 minutes; a pooled variance needs few shadows anyway.
        n_shadows = budget.shadows if name == "undefended" else max(2, budget.shadows // 2)
        shadows = train_shadow_models(
            factory, lambda m, xx, yy, s: trainer(m, xx, yy, shadow_cfg, seed=s), pop_x, pop_y,
            num_shadows=n_shadows, seed=seed)
        lira = evaluate_mia(lira_offline_scores(model, shadows, x, y), is_member)
        t_lira = time.perf_counter() - t0
        res[name] = {"loss_threshold": lt.as_dict() | {"seconds": t_loss},
                     "lira_offline": lira.as_dict() | {"seconds": t_lira, "shadows": n_shadows},
                     "auc": max(lt.auc, lira.auc)}
        curves[f"{name} / loss"] = (lt.fpr, lt.tpr)
        curves[f"{name} / LiRA"] = (lira.fpr, lira.tpr)
        log(f"  MIA {name}: loss AUC {lt.auc:.3f}, LiRA AUC {lira.auc:.3f} "
            f"TPR@1% {lira.tpr_at_1pct_fpr:.3f} ({t_lira:.0f}s)")
    res["targets_per_side"] = k
    save_roc_plot(out / "mia_roc.png", curves, title="Membership inference on the global model")
    return res


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
    ap.add_argument("--adv-eps-train", type=float, default=2.0, help="PGD-AT radius in 1/255 units")
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
    steps = budget.rounds * budget.local_steps
    q_worst = cfg.batch_size / min(s.num_train for s in ds.sites)
    sigma, eps_dp = calibrate_noise(q_worst, steps)
    log(f"DP: noise multiplier {sigma} -> epsilon {eps_dp:.2f} at delta {DELTA} "
        f"(q={q_worst:.3f}, {steps} steps, smallest site)")

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
    adv_cfg = AdversarialTrainingConfig(eps=args.adv_eps_train / 255, steps=3)
    adv_model, *_ = fedavg(ds, "cnn", cfg, budget.adv_rounds, seed=args.seed, adv=adv_cfg,
                           start_params=warm, first_round=warm_rounds)
    timings["train_adversarial"] = time.perf_counter() - t0
    log(f"trained PGD-AT FedAvg ({timings['train_adversarial']:.0f}s)")
    t0 = time.perf_counter()
    dp_trainer = make_dp_trainer(sigma, 1.0)
    dp_model, *_ = fedavg(ds, "cnn", cfg, budget.rounds, seed=args.seed, trainer=dp_trainer)
    timings["train_dp"] = time.perf_counter() - t0
    log(f"trained DP-SGD FedAvg ({timings['train_dp']:.0f}s)")

    t0 = time.perf_counter()
    inv = inversion_section(ds, budget, args.seed, sigma, undefended, out)
    timings["inversion"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    mia = mia_section(ds, budget, args.seed, undefended, dp_model, cfg, dp_trainer, out)
    timings["membership"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    adv = adversarial_section(ds, budget, args.seed, undefended, adv_model, sites, params, out)
    timings["adversarial"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    tab = tabular_section(root, budget, args.seed)
    timings["tabular"] = time.perf_counter() - t0

    report = {
        "budget": budget.__dict__, "adv_training": {"eps_train": adv_cfg.eps, "pgd_steps": adv_cfg.steps,
                                                     "clean_warmup_rounds": warm_rounds,
                                                     "adversarial_rounds": budget.adv_rounds},
        "dp": {"noise_multiplier": sigma, "epsilon": eps_dp, "delta": DELTA,
                                          "sample_rate_worst_site": q_worst, "steps": steps},
        "dp_model_clean_accuracy": accuracy(dp_model, *ds.pooled_test),
        "inversion": inv, "membership": mia, "adversarial": adv, "tabular": tab, "timings_s": timings,
    }
    (out / "report.json").write_text(json.dumps(report, indent=2, default=float))

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
        (f"IG under DP (sigma {sigma}, eps {eps_dp:.1f})", f"PSNR {inv['ig_fedsgd_b1_dp']['psnr_mean']:.1f} dB, "
         f"labels {inv['ig_fedsgd_b1_dp']['label_accuracy']:.0%} (chance {inv['label_chance']:.0%})"),
        ("IG under SecAgg (5 sites)", f"PSNR {inv['ig_fedsgd_b1_secagg5']['psnr_mean']:.1f} dB, "
         f"labels {inv['ig_fedsgd_b1_secagg5']['label_accuracy']:.0%}"),
        ("reference: dataset-mean image / noise", f"{inv['reference_psnr_dataset_mean_image']:.1f} dB / "
         f"{inv['reference_psnr_uniform_noise']:.1f} dB"),
        ("MIA undefended (loss / LiRA AUC)", f"{mia['undefended']['loss_threshold']['auc']:.3f} / "
         f"{mia['undefended']['lira_offline']['auc']:.3f}, LiRA TPR@1%/0.1% "
         f"{mia['undefended']['lira_offline']['tpr_at_1pct_fpr']:.3f}/"
         f"{mia['undefended']['lira_offline']['tpr_at_0.1pct_fpr']:.3f}"),
        ("MIA DP (loss / LiRA AUC)", f"{mia['dp']['loss_threshold']['auc']:.3f} / {mia['dp']['lira_offline']['auc']:.3f}"),
        ("Clean accuracy undefended / PGD-AT / DP", f"{adv['undefended']['clean_accuracy']:.3f} / "
         f"{adv['adv_training']['clean_accuracy']:.3f} / {report['dp_model_clean_accuracy']:.3f}"),
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
        "inversion_psnr_secagg": round(inv["ig_fedsgd_b1_secagg5"]["psnr_mean"], 2),
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
