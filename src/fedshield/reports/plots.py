"""Plots for the HTML report, embedded as base64 PNG so the report is one file."""

from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def _to_data_uri(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def metric_per_round(doc: dict, metric: str) -> str:
    """One line per site plus the pooled / central figure, across rounds."""
    rounds = doc["rounds"]
    xs = [r["round_num"] for r in rounds]
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for site in doc["sites"]:
        ys = [r["evaluation"].get("per_site", {}).get(site, {}).get(metric) for r in rounds]
        ax.plot(xs, [float("nan") if y is None else y for y in ys], marker=".", label=site, alpha=0.8)
    for key, style in (("pooled", "k--"), ("central_test", "k-")):
        ys = [(r["evaluation"].get(key) or {}).get(metric) for r in rounds]
        if any(y is not None for y in ys):
            ax.plot(xs, [float("nan") if y is None else y for y in ys], style, lw=2, label=key)
    ax.set_xlabel("round")
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    return _to_data_uri(fig)
