"""Clinical metrics, pure numpy so every layer (sites, server, red team) agrees."""

from fedshield.evaluation.metrics import binary_metrics, roc_auc, summarize_sites

__all__ = ["binary_metrics", "roc_auc", "summarize_sites"]
