"""The scorecard: per-defense summary, scorecard.json and a one-file HTML heatmap.

Why one number per defense up front: a hospital choosing a configuration
asks "how bad can it get?", so each defense reports its clean accuracy,
its worst accuracy over the untargeted attacks and its worst backdoor
success; the full grid follows for anyone who wants the detail. With the
privacy probe on (``--privacy`` or ``[redteam.privacy]``), a ``privacy``
section adds what the same federation leaks: gradient inversion, membership
inference and adversarial robustness (see ``fedshield.redteam.privacy.probe``).
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from pathlib import Path
from typing import Any

from fedshield.redteam.attacks import ATTACKS, WORST_CASE


def _num(x) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def summarize(cells: list[dict[str, Any]], *, defenses: list[str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for d in defenses:
        mine = [c for c in cells if c["defense"] == d and not c.get("error")]
        clean = next((c for c in mine if c["attack"] == "none"), None)
        untargeted = [c for c in mine if c["attack"] in WORST_CASE]
        worst = min(untargeted, key=lambda c: c["accuracy"], default=None)
        backdoors = [c for c in mine if ATTACKS[c["attack"]].backdoor and c.get("backdoor_success") is not None]
        worst_bd = max(backdoors, key=lambda c: c["backdoor_success"], default=None)
        tprs = [c["screening"]["tpr"] for c in mine if c["screening"]["tpr"] is not None]
        fprs = [c["screening"]["fpr"] for c in mine if c["screening"]["fpr"] is not None]
        out[d] = {
            "clean_accuracy": clean["accuracy"] if clean else None,
            "clean_backdoor_base_rate": clean.get("backdoor_success") if clean else None,
            "worst_case_accuracy": worst["accuracy"] if worst else None,
            "worst_attack": worst["attack"] if worst else None,
            "max_backdoor_success": worst_bd["backdoor_success"] if worst_bd else None,
            "max_backdoor_attack": worst_bd["attack"] if worst_bd else None,
            "mean_screening_tpr": sum(tprs) / len(tprs) if tprs else None,
            "mean_screening_fpr": sum(fprs) / len(fprs) if fprs else None,
            "errors": sum(1 for c in cells if c["defense"] == d and c.get("error")),
        }
    return out


def build_scorecard(cells, *, scenario, redteam, attacks, defenses, seconds: float,
                    privacy: dict[str, Any] | None = None) -> dict[str, Any]:
    """The scorecard; ``privacy`` (the probe's result) adds a ``privacy`` section, absent otherwise."""
    from fedshield.redteam.defenses import resolve_defense

    f = redteam.malicious.declared_f
    card = {
        "scenario": scenario.name,
        "dataset": scenario.data.dataset,
        "seed": scenario.seed,
        "rounds": scenario.rounds,
        "malicious": redteam.malicious.model_dump(mode="json"),
        "malicious_sites": next((c.get("malicious_sites") for c in cells if c.get("malicious_sites")), []),
        "attacks": list(attacks),
        "defenses": {d: resolve_defense(d, redteam.bundles, f=f).model_dump(mode="json") for d in defenses},
        "summary": summarize(cells, defenses=list(defenses)),
        "cells": cells,
        "seconds": round(seconds, 1),
    }
    if privacy is not None:
        card["privacy"] = privacy
    return card


def _heatmap(card: dict[str, Any], key: str, title: str, *, cmap: str) -> str | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    attacks, defenses = card["attacks"], list(card["defenses"])
    grid = np.full((len(attacks), len(defenses)), np.nan)
    for c in card["cells"]:
        v = _num(c.get(key)) if not c.get("error") else None
        if v is not None:
            grid[attacks.index(c["attack"]), defenses.index(c["defense"])] = v
    if np.isnan(grid).all():
        return None
    fig, ax = plt.subplots(figsize=(1.4 + 1.1 * len(defenses), 0.9 + 0.45 * len(attacks)))
    im = ax.imshow(grid, cmap=cmap, vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xticks(range(len(defenses)), defenses, rotation=30, ha="right")
    ax.set_yticks(range(len(attacks)), attacks)
    for i in range(len(attacks)):
        for j in range(len(defenses)):
            if not np.isnan(grid[i, j]):
                ax.text(j, i, f"{grid[i, j]:.2f}", ha="center", va="center", fontsize=8,
                        color="white" if grid[i, j] < 0.35 or grid[i, j] > 0.8 else "black")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, fraction=0.04)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _fmt(x) -> str:
    x = _num(x) if not isinstance(x, str) else x
    return "n/a" if x is None else (x if isinstance(x, str) else f"{x:.3f}")


def _png_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


def privacy_figures(figures: dict[str, Any], out: Path) -> dict[str, Path]:
    """The probe's pictures as PNG files in ``out``: reconstructions beside the originals,
    the membership ROC, robust accuracy against epsilon."""
    from fedshield.redteam.privacy.plots import save_inversion_grid, save_robustness_plot, save_roc_plot

    paths: dict[str, Path] = {}
    inv = figures.get("inversion")
    if inv is not None:
        paths["inversion"] = save_inversion_grid(
            out / "privacy_inversion.png", inv["true"], {inv["label"]: inv["reconstructed"]},
            psnrs={inv["label"]: inv["psnr"]}, title="Gradient inversion of one site's record, as the server sees it")
    mia = figures.get("membership")
    if mia is not None:
        paths["membership"] = save_roc_plot(out / "privacy_membership_roc.png",
                                            {"loss threshold": (mia["fpr"], mia["tpr"])},
                                            title="Membership inference on the global model")
    adv = figures.get("adversarial")
    if adv is not None:
        paths["adversarial"] = save_robustness_plot(out / "privacy_robust_accuracy.png", {"global": adv["curve"]},
                                                    scale=adv["scale"], xlabel=adv["xlabel"],
                                                    title="Robust accuracy of the global model")
    return paths


def _privacy_html(p: dict[str, Any], images: dict[str, str]) -> str:
    e = html.escape

    def row(*cells) -> str:
        return "<tr>" + "".join(f"<td>{e(str(c) if isinstance(c, int) else _fmt(c))}</td>" for c in cells) + "</tr>"

    if p.get("error"):
        return f"<h2>Privacy and evasion probe</h2><p>The probe failed: {e(p['error'].splitlines()[0])}</p>"
    d = p.get("defenses", {})
    dp = d.get("dp", {"mode": "off"})
    if dp["mode"] == "off":
        dp_text = "off"
    else:
        eps = dp.get("final_epsilon") or {}
        dp_text = f"{dp['mode']}-level ({dp.get('mechanism') or ''})" + (
            f"; spent epsilon up to {max(eps.values()):.3g}" if eps else "")
    sa = d.get("secure_aggregation", {"enabled": False})
    sa_text = f"on, groups of {sa['group_size']}" if sa.get("enabled") else "off"
    parts = [
        "<h2>Privacy and evasion probe</h2>",
        f"<p>The scenario's own federation ({e(str(p.get('training', {}).get('rounds_run')))} rounds, "
        f"accuracy {e(_fmt(p.get('training', {}).get('accuracy')))}), attacked after training. "
        f"Differential privacy: {e(dp_text)}. Secure aggregation: {e(sa_text)}. "
        f"Aggregation: {e(str(d.get('aggregation')))}, screening: {e(str(d.get('screening')))}.</p>",
    ]
    inv = p.get("inversion", {})
    parts.append(f"<h3>Gradient inversion (site {e(str(p.get('site')))})</h3>")
    if "skipped" in inv:
        parts.append(f"<p>Skipped: {e(inv['skipped'])}.</p>")
    else:
        parts.append(
            f"<p>Inverting Gradients on batches of {inv.get('inverted_batch', 1)} record(s) (one per site's "
            f"message), {inv['iterations']} iterations, on the round-1 model; the server "
            f"sees {e(inv['server_sees'])}. Higher PSNR/SSIM means a closer copy of the patient's image; the "
            "dataset-mean image, which holds no patient's data, is the yardstick; labels are compared with "
            "a guess that ignores the images. Re-identified: reconstructions nearer their own record than any "
            "of 99 other patients'; its baseline is the same figure for another message's reconstructions "
            "put through the same matching.</p>"
            "<table><tr><th>records</th><th>PSNR (dB)</th><th>SSIM</th><th>label accuracy</th><th>label chance</th>"
            "<th>reference PSNR (mean image)</th><th>re-identified</th><th>re-identified, baseline</th>"
            "<th>seconds</th></tr>"
            + row(inv.get("records_scored", inv["images"]), inv["psnr_mean"], inv["ssim_mean"],
                  inv["label_accuracy"], inv.get("label_chance"), inv["reference_psnr_dataset_mean_image"],
                  inv.get("reidentified"), inv.get("reidentified_control"), inv["seconds"]) + "</table>")
    mia = p.get("membership", {})
    parts.append("<h3>Membership inference (loss threshold, final global model)</h3>")
    if "skipped" in mia:
        parts.append(f"<p>Skipped: {e(mia['skipped'])}.</p>")
    else:
        parts.append(
            "<table><tr><th>members / non-members</th><th>AUC</th><th>TPR at 1% FPR</th><th>TPR at 0.1% FPR</th>"
            "<th>seconds</th></tr>"
            + row(f"{mia['members']} / {mia['non_members']}", mia["auc"], mia["tpr_at_1pct_fpr"],
                  mia["tpr_at_0.1pct_fpr"], mia["seconds"]) + "</table><p>AUC 0.5 is chance.</p>")
    adv = p.get("adversarial", {})
    parts.append("<h3>Adversarial examples (final global model)</h3>")
    if "skipped" in adv:
        parts.append(f"<p>Skipped: {e(adv['skipped'])}.</p>")
    else:
        head = "".join(f"<th>{e(_fmt_eps(x))}</th>" for x in adv["eps"])
        parts.append(
            f"<p>Robust accuracy on {adv['examples']} test examples (clean {e(_fmt(adv['clean_accuracy']))}); "
            f"eps in {e(adv['eps_units'])}; {adv['seconds']:.1f} s.</p>"
            f"<table><tr><th>eps</th>{head}</tr>"
            + f"<tr><td>FGSM</td>{''.join(f'<td>{_fmt(a)}</td>' for a in adv['fgsm'])}</tr>"
            + f"<tr><td>PGD ({adv['pgd_steps']} steps)</td>{''.join(f'<td>{_fmt(a)}</td>' for a in adv['pgd'])}</tr>"
            + "</table>")
    imgs = "".join(f'<img src="{src}" alt="{e(name)}">' for name, src in images.items())
    return "".join(parts) + (f"<div>{imgs}</div>" if imgs else "")


def _fmt_eps(x: float) -> str:
    return f"{x:g}"


def render_html(card: dict[str, Any], *, privacy_images: dict[str, str] | None = None) -> str:
    e = html.escape
    rows = "".join(
        f"<tr><td>{e(d)}</td>" + "".join(f"<td>{e(_fmt(s[k]))}</td>" for k in (
            "clean_accuracy", "worst_case_accuracy", "worst_attack", "max_backdoor_success",
            "mean_screening_tpr", "mean_screening_fpr")) + "</tr>"
        for d, s in card["summary"].items()
    )
    images = [
        _heatmap(card, "accuracy", "test accuracy (attack x defense)", cmap="RdYlGn"),
        _heatmap(card, "backdoor_success", "backdoor success rate", cmap="RdYlGn_r"),
    ]
    imgs = "".join(f'<img src="{src}" alt="heatmap">' for src in images if src)
    errors = "".join(f"<li>{e(c['attack'])} x {e(c['defense'])}: {e(c['error'].splitlines()[0])}</li>"
                     for c in card["cells"] if c.get("error"))
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>FedShield red-team scorecard</title>"
        "<style>body{font-family:sans-serif;margin:2em}td,th{padding:.2em .6em;border-bottom:1px solid #ddd}"
        "img{max-width:48%;margin:.5em}</style></head><body>"
        f"<h1>Red-team scorecard: {e(card['scenario'])}</h1>"
        f"<p>Dataset {e(card['dataset'])}, {card['rounds']} rounds, seed {card['seed']}; malicious sites: "
        f"{e(', '.join(card['malicious_sites']) or 'none')} (from round {card['malicious']['from_round']}).</p>"
        "<table><tr><th>defense</th><th>clean acc.</th><th>worst-case acc.</th><th>worst attack</th>"
        f"<th>max backdoor success</th><th>screening TPR</th><th>screening FPR</th></tr>{rows}</table>"
        f"<div>{imgs}</div>" + (f"<h2>Cells that failed</h2><ul>{errors}</ul>" if errors else "")
        + (_privacy_html(card["privacy"], privacy_images or {}) if card.get("privacy") is not None else "")
        + "</body></html>"
    )


def write_scorecard(card: dict[str, Any], out: Path) -> Path:
    """scorecard.json and scorecard.html (and, with a privacy section, its figures as PNG files)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    images: dict[str, str] = {}
    if card.get("privacy") is not None:
        privacy = dict(card["privacy"])
        figures = privacy.pop("_figures", None) or {}
        paths = privacy_figures(figures, out) if figures else {}
        privacy["figures"] = {name: path.name for name, path in paths.items()}
        images = {name: _png_uri(path) for name, path in paths.items()}
        card = {**card, "privacy": privacy}
    (out / "scorecard.json").write_text(json.dumps(card, indent=2, default=float), encoding="utf-8")
    (out / "scorecard.html").write_text(render_html(card, privacy_images=images), encoding="utf-8")
    return out
