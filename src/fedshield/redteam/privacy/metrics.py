"""Image-similarity and ROC metrics used to score privacy attacks.

Why our own implementations: the scorecard must not depend on torchvision or
scikit-image, and every number in the report has to be reproducible from the
arrays alone (pure numpy/scipy, no I/O).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter
from scipy.optimize import linear_sum_assignment

from fedshield.errors import param_error

__all__ = [
    "psnr",
    "ssim",
    "match_reconstructions",
    "ReconstructionScore",
    "score_reconstruction",
    "roc_curve",
    "roc_auc",
    "tpr_at_fpr",
    "image_blind_label_accuracy",
    "reidentified",
    "reidentified_control",
    "wilson_interval",
]


def _as_images(x: np.ndarray, name: str, owner: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 2:
        x = x[None, None]
    elif x.ndim == 3:
        x = x[None]
    if x.ndim != 4:
        raise param_error(name, owner, "images shaped (n, c, h, w), (c, h, w) or (h, w)", x.shape)
    return x


def psnr(reconstruction: np.ndarray, target: np.ndarray, *, data_range: float = 1.0) -> np.ndarray:
    """Per-image PSNR in dB; identical images give +inf (capped at 100 dB for averaging)."""
    a = _as_images(reconstruction, "reconstruction", "psnr")
    b = _as_images(target, "target", "psnr")
    if a.shape != b.shape:
        raise param_error("target", "psnr", f"the reconstruction's shape {a.shape}", b.shape)
    mse = ((a - b) ** 2).reshape(a.shape[0], -1).mean(axis=1)
    with np.errstate(divide="ignore"):
        out = 10.0 * np.log10(data_range**2 / np.maximum(mse, 1e-10))
    return np.minimum(out, 100.0)


def ssim(
    reconstruction: np.ndarray, target: np.ndarray, *, data_range: float = 1.0, sigma: float = 1.5
) -> np.ndarray:
    """Per-image mean SSIM (Wang et al. 2004, Gaussian window sigma 1.5), channels averaged.

    Why Gaussian weighting with truncation at 3.5 sigma: it matches the usual
    reference implementations closely enough that numbers compare with papers.
    """
    a = _as_images(reconstruction, "reconstruction", "ssim")
    b = _as_images(target, "target", "ssim")
    if a.shape != b.shape:
        raise param_error("target", "ssim", f"the reconstruction's shape {a.shape}", b.shape)
    c1 = (0.01 * data_range) ** 2
    c2 = (0.03 * data_range) ** 2

    def blur(z: np.ndarray) -> np.ndarray:
        return gaussian_filter(z, sigma=(0, 0, sigma, sigma), truncate=3.5, mode="reflect")

    mu_a, mu_b = blur(a), blur(b)
    saa = blur(a * a) - mu_a**2
    sbb = blur(b * b) - mu_b**2
    sab = blur(a * b) - mu_a * mu_b
    num = (2 * mu_a * mu_b + c1) * (2 * sab + c2)
    den = (mu_a**2 + mu_b**2 + c1) * (saa + sbb + c2)
    return (num / den).reshape(a.shape[0], -1).mean(axis=1)


def match_reconstructions(reconstruction: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Hungarian assignment of reconstructions to true images by MSE.

    Why: gradients are invariant to the order of examples in a batch, so a
    reconstruction is only meaningful up to a permutation. Returns ``perm``
    with ``reconstruction[perm[i]]`` matched to ``target[i]``.
    """
    a = _as_images(reconstruction, "reconstruction", "match_reconstructions").reshape(
        len(reconstruction), -1
    )
    b = _as_images(target, "target", "match_reconstructions").reshape(len(target), -1)
    if a.shape != b.shape:
        raise param_error("target", "match_reconstructions", f"shape {a.shape}", b.shape)
    cost = ((b[:, None, :] - a[None, :, :]) ** 2).mean(axis=2)
    rows, cols = linear_sum_assignment(cost)
    perm = np.empty(len(b), dtype=np.int64)
    perm[rows] = cols
    return perm


@dataclass(frozen=True)
class ReconstructionScore:
    psnr: np.ndarray  # per true image, after matching
    ssim: np.ndarray
    label_accuracy: float  # fraction of matched pairs whose recovered label is right
    perm: np.ndarray

    @property
    def mean_psnr(self) -> float:
        return float(np.mean(self.psnr))

    @property
    def mean_ssim(self) -> float:
        return float(np.mean(self.ssim))

    def as_dict(self) -> dict:
        return {
            "psnr_mean": self.mean_psnr,
            "psnr_median": float(np.median(self.psnr)),
            "ssim_mean": self.mean_ssim,
            "label_accuracy": self.label_accuracy,
        }


def score_reconstruction(
    reconstruction: np.ndarray,
    target: np.ndarray,
    *,
    recovered_labels: np.ndarray | None = None,
    true_labels: np.ndarray | None = None,
) -> ReconstructionScore:
    """Match, then score PSNR/SSIM per true image and label accuracy on the pairs."""
    rec = np.clip(np.asarray(reconstruction, dtype=np.float64), 0.0, 1.0)
    tgt = np.asarray(target, dtype=np.float64)
    perm = match_reconstructions(rec, tgt)
    matched = rec[perm]
    acc = float("nan")
    if recovered_labels is not None and true_labels is not None:
        rl = np.asarray(recovered_labels).reshape(-1)[perm]
        acc = float(np.mean(rl == np.asarray(true_labels).reshape(-1)))
    return ReconstructionScore(psnr(matched, tgt), ssim(matched, tgt), acc, perm)


def roc_curve(scores: np.ndarray, is_member: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(fpr, tpr) over every threshold; higher score means 'member'."""
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    m = np.asarray(is_member).astype(bool).reshape(-1)
    if s.shape != m.shape:
        raise param_error("is_member", "roc_curve", f"{s.shape[0]} flags", m.shape)
    if m.all() or (~m).all():
        raise param_error("is_member", "roc_curve", "both members and non-members", int(m.sum()))
    order = np.argsort(-s, kind="mergesort")
    s, m = s[order], m[order]
    distinct = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]
    tps = np.cumsum(m)[distinct]
    fps = np.cumsum(~m)[distinct]
    tpr = np.r_[0.0, tps / m.sum()]
    fpr = np.r_[0.0, fps / (~m).sum()]
    return fpr, tpr


def roc_auc(scores: np.ndarray, is_member: np.ndarray) -> float:
    fpr, tpr = roc_curve(scores, is_member)
    return float(np.trapezoid(tpr, fpr))


def tpr_at_fpr(scores: np.ndarray, is_member: np.ndarray, fpr_target: float) -> float:
    """Largest TPR with FPR <= target (Carlini et al.'s low-FPR metric).

    Why not interpolate: at 0.1% FPR with a few hundred non-members the only
    honest operating point is 'zero false positives'.
    """
    fpr, tpr = roc_curve(scores, is_member)
    ok = fpr <= fpr_target + 1e-12
    return float(tpr[ok].max()) if ok.any() else 0.0


def image_blind_label_accuracy(recovered_labels: np.ndarray, true_labels: np.ndarray) -> float:
    """Expected label accuracy of a random matching of the recovered labels to the records.

    Why this baseline: from a batch update iDLG learns how many records are positive, which is
    aggregate information; the reconstructions leak *which* record is positive only if their
    matched labels beat this count-preserving guess that ignores the images.
    """
    r = np.asarray(recovered_labels).reshape(-1)
    t = np.asarray(true_labels).reshape(-1)
    if r.shape != t.shape or r.size == 0:
        raise param_error("true_labels", "image_blind_label_accuracy", f"{r.size} labels (> 0)", t.shape)
    kr, kt, b = int(np.sum(r == 1)), int(np.sum(t == 1)), r.size
    return float((kr * kt + (b - kr) * (b - kt)) / (b * b))


def reidentified(reconstruction: np.ndarray, target: np.ndarray, distractors: np.ndarray) -> np.ndarray:
    """Per reconstruction: is it nearer (in PSNR) to its own record than to every distractor?

    Why beside PSNR: a smooth image can score a high PSNR against any chest X-ray (the
    dataset-mean image scores ~18 dB) without telling *whose* it is. Re-identification asks the
    question a patient cares about: among its record and m other patients' records, does the
    reconstruction single out its own? Chance is 1 / (m + 1); a data-free guess (the mean image)
    lands near it. ``reconstruction[i]`` must already be matched to ``target[i]``.
    """
    rec = np.clip(_as_images(reconstruction, "reconstruction", "reidentified"), 0.0, 1.0)
    tgt = _as_images(target, "target", "reidentified")
    pool = _as_images(distractors, "distractors", "reidentified")
    if rec.shape != tgt.shape:
        raise param_error("target", "reidentified", f"the reconstruction's shape {rec.shape}", tgt.shape)
    if pool.shape[1:] != tgt.shape[1:] or pool.shape[0] < 1:
        raise param_error("distractors", "reidentified", f"at least one image shaped {tgt.shape[1:]}", pool.shape)
    own = psnr(rec, tgt)
    best_other = np.array([psnr(np.broadcast_to(r, pool.shape), pool).max() for r in rec])
    return own > best_other


def reidentified_control(batches, distractors: np.ndarray) -> np.ndarray | None:
    """``reidentified`` for reconstructions of an *unrelated* batch, matched as the attack's own are.

    ``batches``: (true images, reconstructions) per inverted message, at least two. Each batch's
    records are scored against the next batch's reconstructions after the same Hungarian
    matching. Why: the matching gives every reconstruction the best-fitting of its B records, and
    the best of B beats the best of m distractors more often than 1 / (m + 1) even when the
    images carry nothing about these records (for B = 80 X-rays, about a quarter of the time). An
    attack re-identifies patients only as far as it beats this control. None: fewer than two
    batches, or a batch with more records than the next has reconstructions.
    """
    batches = list(batches)
    if len(batches) < 2:
        return None
    hits = []
    for t, (x, _) in enumerate(batches):
        other = np.asarray(batches[(t + 1) % len(batches)][1])
        if len(other) < len(x):
            return None
        other = other[: len(x)]
        hits.append(reidentified(other[match_reconstructions(np.clip(other, 0.0, 1.0), x)], x, distractors))
    return np.concatenate(hits)


def wilson_interval(successes: int, trials: int, *, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (95 % for z = 1.96)."""
    if trials < 1 or not 0 <= successes <= trials:
        raise param_error("successes", "wilson_interval", f"an int in [0, trials={trials}], trials >= 1", successes)
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * np.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    lo = 0.0 if successes == 0 else max(0.0, centre - half)  # exact at the ends, not 1 - 1e-16
    hi = 1.0 if successes == trials else min(1.0, centre + half)
    return float(lo), float(hi)
