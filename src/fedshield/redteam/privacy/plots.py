"""Figures for the privacy red-team report (the only I/O in this subpackage).

Why separate: the attack math must run headless and be unit-tested without
matplotlib; figures are written only when the benchmark or CLI asks for them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from fedshield.errors import param_error

__all__ = ["save_inversion_grid", "save_roc_plot", "save_robustness_plot"]


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def save_inversion_grid(
    path: str | Path,
    true_images: np.ndarray,
    rows: Mapping[str, np.ndarray],
    *,
    psnrs: Mapping[str, Sequence[float]] | None = None,
    title: str | None = None,
) -> Path:
    """Side by side: true images on top, one row per attack/defense beneath.

    ``rows`` maps a row label to reconstructions already matched (same order
    as ``true_images``); ``psnrs`` optionally annotates each cell.
    """
    true_images = np.asarray(true_images)
    n = true_images.shape[0]
    for name, imgs in rows.items():
        if np.asarray(imgs).shape[0] != n:
            raise param_error("rows", "save_inversion_grid", f"{n} images per row", (name, np.shape(imgs)))
    plt = _plt()
    nrows = 1 + len(rows)
    fig, axes = plt.subplots(nrows, n, figsize=(1.3 * n + 1.2, 1.4 * nrows), squeeze=False)
    all_rows = [("true", true_images)] + list(rows.items())
    for r, (name, imgs) in enumerate(all_rows):
        for c in range(n):
            ax = axes[r][c]
            img = np.asarray(imgs[c])
            ax.imshow(img.reshape(img.shape[-2], img.shape[-1]) if img.ndim >= 2 else img,
                      cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if psnrs is not None and name in psnrs:
                ax.set_title(f"{psnrs[name][c]:.1f} dB", fontsize=7)
            if c == 0:
                ax.set_ylabel(name, fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def save_roc_plot(path: str | Path, curves: Mapping[str, tuple[np.ndarray, np.ndarray]], *,
                  title: str = "Membership inference ROC") -> Path:
    """Log-log ROC, as Carlini et al. argue: the low-FPR corner is what matters."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.5, 4.2))
    for name, (fpr, tpr) in curves.items():
        ax.plot(np.maximum(fpr, 1e-4), np.maximum(tpr, 1e-4), label=name)
    ax.plot([1e-4, 1], [1e-4, 1], "k--", lw=0.8, label="chance")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(1e-3, 1)
    ax.set_ylim(1e-3, 1)
    ax.set_xlabel("False positive rate")
    ax.set_ylabel("True positive rate")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def save_robustness_plot(path: str | Path, curves: Mapping[str, Mapping[str, Sequence[float]]], *,
                         scale: float = 255.0, xlabel: str = "eps (x/255)",
                         title: str = "Robust accuracy") -> Path:
    """Robust accuracy vs epsilon, one line per (model, attack)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.8, 3.6))
    for model_name, curve in curves.items():
        eps = np.asarray(curve["eps"]) * scale
        for attack, acc in curve.items():
            if attack != "eps":
                ax.plot(eps, acc, marker="o", label=f"{model_name} / {attack}")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
