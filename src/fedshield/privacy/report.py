"""What a run spent: the JSON summary for metrics.json and its HTML for report.html.

Why a plot per site: budgets are per hospital, and a site that spends faster
(smaller, or sampled more) is what a privacy officer needs to see first.
"""

from __future__ import annotations

import base64
import html
import io
from typing import Any

from fedshield.privacy.noise import NOT_FOR_PRODUCTION


def privacy_summary(federation) -> dict[str, Any]:
    """JSON-able account of the run's DP; ``{"mode": "off"}`` when none is attached."""
    gate = getattr(federation.stages, "privacy", None)
    if gate is None or not hasattr(gate, "ledgers"):
        return {"mode": "off"}
    info = dict(gate.info)
    history = info.pop("aggregator_history", None)
    out: dict[str, Any] = {
        "mode": info["mode"],
        "mechanism": info.get("mechanism"),
        "accountant": info["accountant"],
        "secure_mode": info["secure_mode"],
        "noise_source": "os.urandom (secure)" if info["secure_mode"] else NOT_FOR_PRODUCTION,
        "clipping": info.get("clipping"),
        "noise": info.get("noise"),
        "budgets": {sid: {"epsilon": lg.epsilon_budget, "delta": lg.delta} for sid, lg in gate.ledgers.items()},
        "rounds": list(gate.rounds),
        "epsilon_per_round": {sid: list(v) for sid, v in gate.epsilon_by_round.items()},
        "final_epsilon": {sid: (v[-1] if v else 0.0) for sid, v in gate.epsilon_by_round.items()},
        "refused": {str(r): why for r, why in gate.refusals.items()},
        "exhausted": sorted(gate.exhausted),
        "warnings": list(gate.warnings),
        "config": info.get("config"),
    }
    if history:
        out["clipping_norm_per_round"] = [h["clipping_norm"] for h in history]
        out["sites_per_round"] = [h["sites"] for h in history]
    return out


def _plot_png(summary: dict[str, Any]) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.2), dpi=100)
    rounds = summary.get("rounds", [])
    for sid, eps in summary.get("epsilon_per_round", {}).items():
        line = ax.plot(rounds[: len(eps)], eps, marker="o", ms=3, label=sid)[0]
        budget = summary.get("budgets", {}).get(sid, {}).get("epsilon")
        if budget is not None:
            ax.axhline(budget, color=line.get_color(), ls=":", lw=1)
    ax.set_xlabel("round")
    ax.set_ylabel("epsilon spent")
    ax.set_title(f"Privacy spent per site ({summary.get('accountant')}; dotted: budget)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def privacy_html(summary: dict[str, Any]) -> str:
    """An HTML fragment (section) for report.html."""
    esc = html.escape
    if summary.get("mode", "off") == "off":
        return "<section class='privacy'><h2>Differential privacy</h2><p>Off.</p></section>"
    rows = "".join(
        f"<tr><td>{esc(sid)}</td><td>{summary['final_epsilon'].get(sid, 0.0):.4g}</td>"
        f"<td>{b['epsilon']:g}</td><td>{b['delta']:g}</td>"
        f"<td>{'yes' if sid in summary.get('exhausted', []) else 'no'}</td></tr>"
        for sid, b in summary["budgets"].items()
    )
    warns = "".join(f"<li>{esc(w)}</li>" for w in summary.get("warnings", []))
    utility = ""
    u = summary.get("utility")
    if u:
        def cell(x):
            return "n/a" if x is None else f"{x:.4f}"

        rows_u = []
        for k in ("mean_site_accuracy", "accuracy", "auc"):
            off, on = u["without_dp"].get(k), u["with_dp"].get(k)
            cost = None if off is None or on is None else off - on
            rows_u.append(f"<tr><td>{esc(k)}</td><td>{cell(off)}</td><td>{cell(on)}</td><td>{cell(cost)}</td></tr>")
        utility = ("<h3>Utility cost (same seed, DP off vs on)</h3><table><tr><th>metric</th><th>without DP</th>"
                   "<th>with DP</th><th>cost</th></tr>" + "".join(rows_u) + "</table>")
    return (
        "<section class='privacy'><h2>Differential privacy</h2>"
        f"<p>{esc(str(summary.get('mechanism')))}. Accountant: {esc(str(summary['accountant']))}. "
        f"Noise source: {esc(summary['noise_source'])}.</p>"
        f"<img alt='epsilon spent per site over rounds' src='data:image/png;base64,{_plot_png(summary)}'/>"
        "<table><tr><th>site</th><th>epsilon spent</th><th>budget epsilon</th><th>delta</th>"
        f"<th>budget exhausted</th></tr>{rows}</table>"
        + utility
        + (f"<h3>Warnings</h3><ul>{warns}</ul>" if warns else "")
        + "</section>"
    )
