"""The privacy probe of ``fedshield redteam``: what a curious server or a querying outsider learns
from *this* federation, with the defenses it actually runs.

Usage::

    fedshield redteam examples/redteam_pneumonia.toml --privacy   # the probe with its defaults

or, in the scenario, a ``[redteam.privacy]`` table (every key optional)::

    [redteam.privacy]
    enabled = true
    site = "site-0"             # whose update the inversion attacks (default: the first site)
    inversion_images = 4        # 0 skips the inversion (always skipped on tabular data)
    inversion_iterations = 200
    membership = true
    adversarial_eps = [1, 2, 4, 8]   # /255 for images; standardized units for tabular, e.g. [0.05, 0.1, 0.2]

The scorecard then has a ``privacy`` section (JSON and HTML, with the reconstructions beside
the originals).

What it does, and why so: the federation is trained once with the scenario's own aggregation,
screening, ``[privacy]`` (DP) and ``[secure_aggregation]`` settings, then attacked three ways.

* Gradient inversion (Inverting Gradients, Geiping et al. 2020, batch 1) of the chosen site's
  message on the round-1 global model -- the freshly initialized model every site trains on
  first, the setting the literature attacks. The message is what the server actually gets to
  see: under sample-level DP a DP-SGD step (per-example clip to ``max_grad_norm`` and Gaussian
  noise with the run's own noise multiplier); under client-level DP with distributed noise the
  clipped update plus the site's noise share (with server-side noise the server sees the
  clipped update itself); under secure aggregation only the mean over the round's participants
  (or the bucket), simulated as each participant sending its own batch-1 message. A FedSGD batch-1
  message is the attacker's best case: a site's real multi-step update over a batch leaks less, and
  a coordinator cannot ask a site for a smaller batch (``Site`` accepts only a lower learning rate).
  Reported: mean PSNR / SSIM of the reconstructions, the label accuracy of iDLG label recovery,
  and, as the yardstick, the PSNR the dataset-mean image already scores (it holds no patient's
  data); and re-identification, the share of reconstructions nearer their own record than any of
  99 other patients' (chance 1 %): a smooth X-ray scores a fair PSNR against anyone. Under secure
  aggregation the matching itself favours the matched record, so the same figure for another
  message's reconstructions is reported beside it as the baseline. Tabular data is skipped: an
  image prior and PSNR mean nothing for a row of lab values.
* Loss-threshold membership inference (Yeom et al. 2018) on the final global model: members are
  the sites' training rows, non-members their held-out test rows (same partition, same
  distribution); AUC and TPR at 1% FPR.
* FGSM and L-inf PGD robust accuracy of the final global model at each ``adversarial_eps``.

Everything is seeded from the scenario seed, so the same scenario gives the same numbers.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from fedshield.errors import ConfigError

__all__ = ["IMAGE_DATASETS", "probe_site", "run_privacy_probe"]

IMAGE_DATASETS = frozenset({"pneumonia"})


def probe_site(cfg, dataset) -> str:
    """The site whose update the inversion attacks, checked against the federation's site ids."""
    ids = list(dataset.site_ids)
    if cfg.site is None:
        return ids[0]
    if cfg.site not in ids:
        raise ConfigError(f"[redteam.privacy] site {cfg.site!r} is not in this federation; its sites are {ids}.")
    return cfg.site


def run_privacy_probe(scenario, cfg, *, dataset=None) -> dict[str, Any]:
    """Train ``scenario``'s federation once, then run the inversion, membership and evasion attacks.

    ``cfg`` is a :class:`fedshield.redteam.config.PrivacyProbeConfig`. The result is JSON-able
    except ``_figures`` (arrays for the scorecard's pictures, dropped from scorecard.json).
    """
    import torch

    from fedshield.data import load_dataset
    from fedshield.models.params import set_flat_params
    from fedshield.redteam.privacy.adversarial import accuracy
    from fedshield.simulation import build_federation, run_federation

    t_all = time.perf_counter()
    d = scenario.data
    dataset = dataset or load_dataset(d.dataset, data_dir=d.data_dir, num_sites=d.num_sites, alpha=d.alpha,
                                      seed=scenario.seed, download=d.download)
    site = probe_site(cfg, dataset)
    out: dict[str, Any] = {"site": site, "seed": scenario.seed}
    figures: dict[str, Any] = {}

    t0 = time.perf_counter()
    fed = build_federation(scenario, dataset=dataset)
    fed.stages.evaluator = None  # scored once below
    result = run_federation(fed)
    global_model = result.model_factory()
    set_flat_params(global_model, result.final_parameters)
    x_test, y_test = dataset.pooled_test_or_concat()
    dp = _dp_view(fed)
    out["defenses"] = {
        "aggregation": scenario.aggregation.name,
        "pre_aggregation": [p.get("name") for p in scenario.aggregation.pre],
        "screening": scenario.screening.name,
        "dp": dp,
        "secure_aggregation": _secagg_view(scenario, result.history, site),
    }
    out["training"] = {"rounds_run": len(result.history), "stopped_early": result.stopped_early,
                       "accuracy": accuracy(global_model, x_test, y_test),
                       "seconds": round(time.perf_counter() - t0, 2)}

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(scenario.seed)
        if cfg.inversion_images > 0 and d.dataset in IMAGE_DATASETS:
            out["inversion"] = _inversion(fed, dataset, cfg, site, dp, out["defenses"]["secure_aggregation"],
                                          seed=scenario.seed, figures=figures)
        elif cfg.inversion_images > 0:
            out["inversion"] = {"skipped": f"tabular: {d.dataset} rows are not images, so gradient inversion "
                                           "(an image prior scored by PSNR/SSIM) does not apply"}
        else:
            out["inversion"] = {"skipped": "inversion_images = 0"}
        if cfg.membership:
            out["membership"] = _membership(global_model, dataset, cfg, seed=scenario.seed, figures=figures)
        else:
            out["membership"] = {"skipped": "membership = false"}
        eps = _epsilons(cfg, d.dataset)
        if eps:
            out["adversarial"] = _adversarial(global_model, x_test, y_test, cfg, eps, d.dataset,
                                              seed=scenario.seed, figures=figures)
        else:
            out["adversarial"] = {"skipped": "adversarial_eps = []"}
    out["seconds"] = round(time.perf_counter() - t_all, 2)
    out["_figures"] = figures
    return out


# ----------------------------------------------------------------------------- the defenses in force


def _dp_view(fed) -> dict[str, Any]:
    """The run's DP, as the attacker needs it (mechanism, noise multiplier, clipping norm)."""
    from fedshield.privacy import privacy_summary

    s = privacy_summary(fed)
    mode = s.get("mode", "off")
    if mode == "off":
        return {"mode": "off"}
    view: dict[str, Any] = {"mode": mode, "mechanism": s.get("mechanism"), "final_epsilon": s.get("final_epsilon"),
                            "budgets": s.get("budgets")}
    clipping, noise = s.get("clipping") or {}, s.get("noise") or {}
    if mode == "sample":
        view["max_grad_norm"] = float(clipping["max_grad_norm"])
        view["noise_multiplier"] = {sid: float(v["noise_multiplier"]) for sid, v in noise.items()}
    else:
        view["clipping_norm"] = float(clipping["clipping_norm"])
        view["noise_multiplier"] = float(noise["noise_multiplier"])
        view["sites_per_round"] = int(noise["sites_per_round"])
        view["placement"] = noise.get("placement", "server")
    return view


def _secagg_view(scenario, history, site: str) -> dict[str, Any]:
    sa = scenario.secure_aggregation
    if not sa.enabled:
        return {"enabled": False}
    rec = next((r for r in history if site in r.participants), history[0] if history else None)
    participants = list(rec.participants) if rec is not None else [site]
    if site not in participants:
        participants = [site, *participants]
    group = min(sa.bucket_size, len(participants)) if sa.bucket_size else len(participants)
    return {"enabled": True, "round": rec.round_num if rec is not None else None, "participants": participants,
            "group_size": group, "bucket_size": sa.bucket_size, "clip_norm": sa.clip_norm}


# ----------------------------------------------------------------------------- gradient inversion


def _balanced_pick(y: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    y = np.asarray(y).reshape(-1)
    k = min(k, len(y))
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y != 1)
    kn = min(k // 2, len(neg))
    kp = min(k - kn, len(pos))
    kn = k - kp
    return np.sort(np.r_[rng.choice(neg, kn, replace=False), rng.choice(pos, kp, replace=False)]).astype(int)


def _message(model, x, y, *, dp: dict[str, Any], site_id: str, clip_norm: float | None, seed: int) -> np.ndarray:
    """The batch-1 message a site sends, as the server receives it (before any secure masking)."""
    import torch

    from fedshield.redteam.privacy.inversion import shared_gradient

    g = shared_gradient(model, x, y).astype(np.float64)
    gen = torch.Generator().manual_seed(seed)

    def noise(std: float) -> np.ndarray:
        return torch.randn(g.shape[0], generator=gen, dtype=torch.float64).numpy() * std

    def clip(v: np.ndarray, c: float) -> np.ndarray:
        return v * min(1.0, c / (float(np.linalg.norm(v)) + 1e-12))

    if dp["mode"] == "sample":  # one DP-SGD step on one example: clip, add N(0, (z C)^2)
        c, z = dp["max_grad_norm"], dp["noise_multiplier"][site_id]
        g = clip(g, c) + noise(z * c)
    elif dp["mode"] == "client":  # DP-FedAvg: the site clips; it adds noise only when placement is distributed
        c = dp["clipping_norm"]
        g = clip(g, c)
        if dp["placement"] == "distributed":
            g = g + noise(dp["noise_multiplier"] * c / np.sqrt(dp["sites_per_round"]))
    if clip_norm is not None:  # secure aggregation's own L2 clip before masking
        g = clip(g, clip_norm)
    return g.astype(np.float32)


def _server_view(model, dataset, site: str, xs, ys, *, dp, secagg, seed: int):
    """Per target image: the update the server sees and the records behind it (the target's first);
    and a one-line description of it."""
    rng = np.random.default_rng([seed, 0x5EC])
    clip_norm = secagg.get("clip_norm") if secagg["enabled"] else None
    mine = [_message(model, xs[i : i + 1], ys[i : i + 1], dp=dp, site_id=site, clip_norm=clip_norm,
                     seed=seed * 1000 + i) for i in range(len(ys))]
    if dp["mode"] == "sample":
        what = (f"a DP-SGD step (clip {dp['max_grad_norm']:g}, noise multiplier "
                f"{dp['noise_multiplier'][site]:.3g})")
    elif dp["mode"] == "client" and dp["placement"] == "distributed":
        what = (f"the clipped update (C = {dp['clipping_norm']:g}) plus the site's distributed noise share "
                f"(noise multiplier {dp['noise_multiplier']:.3g} over {dp['sites_per_round']} sites)")
    elif dp["mode"] == "client":
        what = (f"the clipped update (C = {dp['clipping_norm']:g}); client-level DP noise is added by the "
                "server itself, after it has seen the update")
    else:
        what = "the plain gradient"
    if not secagg["enabled"] or secagg["group_size"] <= 1:
        return mine, [(xs[i : i + 1], ys[i : i + 1]) for i in range(len(ys))], what
    others = [s for s in secagg["participants"] if s != site]
    views, records = [], []
    for i, m in enumerate(mine):
        group = sorted(rng.choice(len(others), size=secagg["group_size"] - 1, replace=False)) if others else []
        total = m.astype(np.float64)
        gx, gy = [xs[i : i + 1]], [ys[i : i + 1]]
        for k, j in enumerate(group):
            sd = dataset.site(others[j])
            r = int(rng.integers(len(sd.y_train)))
            total += _message(model, sd.x_train[r : r + 1], sd.y_train[r : r + 1], dp=dp, site_id=others[j],
                              clip_norm=clip_norm, seed=seed * 1000 + 100 * (i + 1) + k)
            gx.append(sd.x_train[r : r + 1])
            gy.append(np.asarray(sd.y_train[r : r + 1]).reshape(-1))
        views.append((total / (1 + len(group))).astype(np.float32))
        records.append((np.concatenate(gx), np.concatenate(gy)))
    return views, records, f"only the mean of {secagg['group_size']} sites' messages (secure aggregation), each {what}"


def _defense_label(dp, secagg) -> str:
    parts = {"sample": ["DP-SGD"], "client": ["DP-FedAvg"]}.get(dp["mode"], [])
    if secagg["enabled"]:
        parts.append(f"SecAgg ({secagg['group_size']})")
    return " + ".join(parts) or "no defense"


def _inversion(fed, dataset, cfg, site: str, dp, secagg, *, seed: int, figures: dict) -> dict[str, Any]:
    from fedshield.redteam.privacy.inversion import inverting_gradients
    from fedshield.redteam.privacy.metrics import (
        image_blind_label_accuracy,
        psnr,
        reidentified,
        reidentified_control,
        score_reconstruction,
    )

    t0 = time.perf_counter()
    model = fed.model_factory()  # the round-1 global model: the scenario's seeded initialization
    sd = dataset.site(site)
    idx = _balanced_pick(sd.y_train, cfg.inversion_images, np.random.default_rng([seed, 0x1A7]))
    xs, ys = sd.x_train[idx], np.asarray(sd.y_train[idx]).reshape(-1)
    updates, records, what = _server_view(model, dataset, site, xs, ys, dp=dp, secagg=secagg, seed=seed)
    # A mean over k sites' one-record messages is one batch-k gradient: the attack optimizes k dummy
    # images and is scored after Hungarian matching against all k records (Geiping et al.'s batch
    # protocol); the picture shows the reconstruction matched to the target site's record.
    recs, psnrs, ssims, target_psnr, hits, blind, n, reid, kept = [], [], [], [], 0, 0.0, 0, [], []
    # Re-identification: is a reconstruction nearer its own record than every one of up to 99
    # other patients (held-out records, which no message carries)?
    held_out = np.concatenate([s.x_test for s in dataset.sites])
    distractors = held_out[np.random.default_rng([seed, 0x1D]).choice(len(held_out), min(99, len(held_out)),
                                                                       replace=False)]
    for i, (u, (gx, gy)) in enumerate(zip(updates, records)):
        r = inverting_gradients(model, u, batch_size=len(gy), input_shape=tuple(dataset.input_shape),
                                iterations=cfg.inversion_iterations, seed=seed + i)
        sc = score_reconstruction(r.images, gx, recovered_labels=r.labels, true_labels=gy)
        recs.append(r.images[sc.perm][0])
        psnrs += [float(p) for p in sc.psnr]
        ssims += [float(v) for v in sc.ssim]
        target_psnr.append(float(sc.psnr[0]))
        hits += int(round(sc.label_accuracy * len(gy)))
        blind += image_blind_label_accuracy(r.labels, gy) * len(gy)
        reid += [bool(v) for v in reidentified(r.images[sc.perm], gx, distractors)]
        kept.append((gx, r.images))
        n += len(gy)
    recs_a = np.stack(recs)
    control = reidentified_control(kept, distractors)
    pooled = np.concatenate([s.x_train for s in dataset.sites])
    reference = float(psnr(np.broadcast_to(pooled.mean(0), xs.shape), xs).mean())
    figures["inversion"] = {"true": xs, "reconstructed": recs_a, "psnr": target_psnr,
                            "label": _defense_label(dp, secagg)}
    return {
        "attack": "inverting_gradients", "records_per_message": 1, "inverted_batch": int(len(records[0][1])),
        "images": int(len(ys)), "records_scored": int(n),
        "iterations": cfg.inversion_iterations, "victim_model": "round-1 global model (initialization)",
        "server_sees": what,
        "psnr_mean": float(np.mean(psnrs)), "psnr_median": float(np.median(psnrs)),
        "psnr_target_mean": float(np.mean(target_psnr)), "ssim_mean": float(np.mean(ssims)),
        "label_accuracy": hits / n, "psnr_per_image": target_psnr,
        "reidentified": float(np.mean(reid)), "reidentified_chance": 1.0 / (len(distractors) + 1),
        # The same matching on another message's reconstructions: what the batch protocol's own
        # selection scores without any leak (None with a single message).
        "reidentified_control": None if control is None else float(np.mean(control)),
        "reference_psnr_dataset_mean_image": reference,
        "label_chance": float(max(ys.mean(), 1 - ys.mean())) if n == len(ys) else blind / n,
        "seconds": round(time.perf_counter() - t0, 2),
    }


# ----------------------------------------------------------------------------- membership and evasion


def _membership(model, dataset, cfg, *, seed: int, figures: dict) -> dict[str, Any]:
    from fedshield.redteam.privacy.membership import evaluate_mia, loss_threshold_scores

    t0 = time.perf_counter()
    rng = np.random.default_rng([seed, 0x3E3])
    xtr = np.concatenate([s.x_train for s in dataset.sites])
    ytr = np.concatenate([np.asarray(s.y_train).reshape(-1) for s in dataset.sites])
    xte = np.concatenate([s.x_test for s in dataset.sites])
    yte = np.concatenate([np.asarray(s.y_test).reshape(-1) for s in dataset.sites])
    k = min(cfg.membership_examples, len(ytr), len(yte))
    mem, non = rng.choice(len(ytr), k, replace=False), rng.choice(len(yte), k, replace=False)
    x, y = np.concatenate([xtr[mem], xte[non]]), np.concatenate([ytr[mem], yte[non]])
    is_member = np.r_[np.ones(k, bool), np.zeros(k, bool)]
    res = evaluate_mia(loss_threshold_scores(model, x, y), is_member)
    figures["membership"] = {"fpr": res.fpr, "tpr": res.tpr}
    return {"attack": "loss_threshold", "members": int(k), "non_members": int(k),
            "non_member_source": "the sites' held-out test rows", **res.as_dict(),
            "seconds": round(time.perf_counter() - t0, 2)}


def _epsilons(cfg, dataset_name: str) -> list[float]:
    from fedshield.redteam.privacy.adversarial import IMAGE_EPSILONS, TABULAR_EPSILONS

    if cfg.adversarial_eps is not None:
        return [float(e) for e in cfg.adversarial_eps]
    if dataset_name in IMAGE_DATASETS:
        return [round(e * 255) for e in IMAGE_EPSILONS]
    return list(TABULAR_EPSILONS)


def _adversarial(model, x, y, cfg, eps: list[float], dataset_name: str, *, seed: int,
                 figures: dict) -> dict[str, Any]:
    from fedshield.redteam.privacy.adversarial import robust_accuracy_curve

    t0 = time.perf_counter()
    image = dataset_name in IMAGE_DATASETS
    if len(y) > cfg.adversarial_examples:
        sub = np.sort(np.random.default_rng([seed, 0xADE]).choice(len(y), cfg.adversarial_examples, replace=False))
        x, y = x[sub], y[sub]
    scale = 255.0 if image else 1.0
    curve = robust_accuracy_curve(model, x, y, [e / scale for e in eps], steps=cfg.pgd_steps,
                                  clip=(0.0, 1.0) if image else None, seed=seed)
    figures["adversarial"] = {"curve": curve, "scale": scale,
                              "xlabel": "eps (x/255)" if image else "eps (standard deviations)"}
    return {"attacks": ["fgsm", f"pgd ({cfg.pgd_steps} steps)"], "eps": list(eps),
            "eps_units": "x/255 (pixels in [0, 1])" if image else "standard deviations (standardized features)",
            "examples": int(len(y)), "clean_accuracy": curve["fgsm"][0],
            "fgsm": curve["fgsm"][1:], "pgd": curve["pgd"][1:], "pgd_steps": cfg.pgd_steps,
            "seconds": round(time.perf_counter() - t0, 2)}
