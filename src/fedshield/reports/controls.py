"""Which protections a run had, read from its resolved configuration.

Why one module: the transparency report, the privacy impact assessment and the
HIPAA mapping must agree on what was on; each reads ``active_controls``.
"""

from __future__ import annotations

from typing import Any

ROBUST_AGGREGATORS = {"median", "trimmed_mean", "krum", "multi_krum", "bulyan", "geometric_median",
                      "centered_clipping", "fltrust", "foolsgold", "flame"}


def _adversarial_training(at: dict[str, Any]) -> str:
    """Which sites train adversarially, by the scenario's own per-site inheritance rule."""
    from fedshield.config import AdversarialTrainingSection

    section = AdversarialTrainingSection.model_validate(at)
    on = sorted(sid for sid in section.sites if section.settings_for(sid) is not None)
    off = sorted(sid for sid in section.sites if section.settings_for(sid) is None)
    if section.enabled:
        return "all sites" + (f" except {', '.join(off)}" if off else "")
    return f"sites {', '.join(on)}" if on else "off"


def active_controls(config: dict[str, Any], *, ledger_verified: bool, deployment: dict[str, Any] | None = None) -> dict[str, Any]:
    agg = config.get("aggregation", {}) or {}
    privacy = config.get("privacy", {}) or {}
    secagg = config.get("secure_aggregation", {}) or {}
    deployment = deployment or {}
    pre = [p.get("name") for p in agg.get("pre", [])]
    mode = privacy.get("mode", "off")
    return {
        "aggregation": agg.get("name", "mean"),
        "pre_aggregators": pre,
        "robust_aggregation": agg.get("name") in ROBUST_AGGREGATORS or bool(pre),
        "screening": (config.get("screening", {}) or {}).get("name", "none") != "none",
        "differential_privacy": mode != "off",
        "dp_mode": mode,
        "dp_epsilon": privacy.get("epsilon"),
        "dp_delta": privacy.get("delta"),
        "dp_noise_placement": privacy.get("noise_placement", "server") if mode == "client" else None,
        "secure_aggregation": bool(secagg.get("enabled", False)),
        "secure_aggregation_protocol": secagg.get("protocol", "secagg+") if secagg.get("enabled") else None,
        "local_batch_size": (config.get("client", {}) or {}).get("batch_size"),
        "local_steps": (config.get("client", {}) or {}).get("local_steps"),
        "secure_aggregation_unsafe_small_updates": bool(secagg.get("unsafe_allow_small_updates", False)),
        "adversarial_training": _adversarial_training(config.get("adversarial_training", {}) or {}),
        "audit_ledger": ledger_verified,
        "mutual_tls": bool(deployment.get("mutual_tls", False)),
        "enrollment": bool(deployment.get("enrollment", False)),
        "rbac": bool(deployment.get("rbac", False)),
        "transport": deployment.get("transport", "in-memory simulation"),
    }
