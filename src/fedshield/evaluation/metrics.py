"""Accuracy, ROC AUC, sensitivity and specificity for a binary diagnosis.

Sensitivity (recall on disease) and specificity (recall on healthy) are reported
side by side because a model that calls everyone sick can look accurate on
skewed hospital data. AUC is computed from ranks (Mann-Whitney U) with ties
counted half, which equals scikit-learn's ``roc_auc_score``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.stats import rankdata


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve; NaN when only one class is present."""
    labels = np.asarray(labels).astype(bool)
    n_pos = int(labels.sum())
    n_neg = labels.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(np.asarray(scores, dtype=np.float64))
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def binary_metrics(labels: np.ndarray, scores: np.ndarray, *, threshold: float = 0.5) -> dict[str, float]:
    """Metrics of probability ``scores`` against 0/1 ``labels``."""
    labels = np.asarray(labels).astype(np.int64)
    pred = (np.asarray(scores) >= threshold).astype(np.int64)
    tp = int(((pred == 1) & (labels == 1)).sum())
    tn = int(((pred == 0) & (labels == 0)).sum())
    fp = int(((pred == 1) & (labels == 0)).sum())
    fn = int(((pred == 0) & (labels == 1)).sum())
    n = labels.size
    return {
        "accuracy": (tp + tn) / n if n else float("nan"),
        "auc": roc_auc(labels, scores),
        "sensitivity": tp / (tp + fn) if tp + fn else float("nan"),
        "specificity": tn / (tn + fp) if tn + fp else float("nan"),
        "num_examples": float(n),
    }


def summarize_sites(per_site: Sequence[dict[str, float]]) -> dict[str, float]:
    """FLamby's headline: the unweighted mean of per-site test accuracies."""
    accs = [m["accuracy"] for m in per_site]
    return {"mean_site_accuracy": float(np.mean(accs)) if accs else float("nan")}
