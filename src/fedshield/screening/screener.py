"""Update screening before aggregation: structural checks, robust outlier scores, reputation.

Why a separate stage: robust aggregators bound the damage of bad updates; the
screener removes the obviously bad ones first (malformed, non-finite, far
outliers, repeat offenders) and leaves an audit trail saying why, which a
hospital network needs when a site's contribution is dropped.
"""

from __future__ import annotations

import abc
from collections import Counter
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from fedshield.aggregation._numeric import row_stats
from fedshield.aggregation.kernels import coordinate_median
from fedshield.errors import AggregationError, ConfigError, param_error
from fedshield.screening.reputation import OUTCOME, ReputationBook
from fedshield.screening.robust_stats import robust_z
from fedshield.screening.verdict import ScreeningResult, Verdict

__all__ = ["Screener", "NoScreening", "RobustScreener", "create_screener", "list_screeners"]


class Screener(abc.ABC):
    """Interface the round engine calls once per round, before aggregation."""

    name: ClassVar[str] = ""

    @abc.abstractmethod
    def screen(
        self,
        updates: np.ndarray | Sequence[np.ndarray],
        weights: np.ndarray | Sequence[float],
        site_ids: Sequence[str],
        *,
        round_num: int,
    ) -> ScreeningResult:
        """Return the surviving updates and one Verdict per input. Never modifies the input."""

    def reset(self) -> None:  # noqa: B027 - optional hook, stateless screeners keep it
        """Forget cross-round state (reputation)."""


def _check_lengths(updates: Any, weights: Any, site_ids: Sequence[str], owner: str) -> int:
    n = len(site_ids)
    if len(updates) != n or len(weights) != n:
        raise AggregationError(
            f"The 'updates', 'weights' and 'site_ids' parameters of {owner} must have one entry per site. "
            f"Got {len(updates)} updates, {len(weights)} weights and {n} site ids instead."
        )
    return n


class NoScreening(Screener):
    """Passthrough: every update accepted as is (for baselines and trusted deployments)."""

    name = "none"

    def screen(self, updates, weights, site_ids, *, round_num):
        _check_lengths(updates, weights, site_ids, "NoScreening.screen")
        x = updates if isinstance(updates, np.ndarray) else np.stack([np.asarray(u) for u in updates])
        x = np.asarray(x, dtype=np.float32)
        ids = [str(s) for s in site_ids]
        verdicts = [Verdict(s, "accepted", "screening disabled") for s in ids]
        return ScreeningResult(x, np.asarray(weights, dtype=np.float64), ids, verdicts, int(round_num))


class RobustScreener(Screener):
    """Structural checks, MAD-based norm/cosine/distance outlier scores, per-site reputation.

    Decisions, in order (the first that applies wins):

    1. rejected: malformed (not numeric, wrong shape, NaN/Inf, bad weight) or a
       duplicate site id within the round;
    2. rejected: reputation below ``reputation_threshold`` (the site keeps being
       scored, so good behaviour restores its reputation);
    3. rejected: cosine to the robust centre (coordinate median) is below
       ``cosine_reject_below`` *and* its robust z-score below -``cosine_z_reject``
       (e.g. sign-flipped updates);
    4. rejected: L2 norm above ``norm_ratio_reject`` times the median norm;
    5. clipped: norm robust z-score above ``norm_z_clip``; the update is scaled
       to the robust bound median(norm) + norm_z_clip * 1.4826 * MAD(norm);
    6. accepted.

    Robust z-scores use the median and MAD of the well-formed updates, so up to
    half of them can be adversarial without moving the yardstick. Rejection on
    norm uses a ratio, not a z-score: in high dimension honest norms concentrate
    so tightly that z-scores would reject honest-but-different sites, whereas
    clipping them is harmless. ``distance_z`` (to the centre) is reported for
    the audit trail only. With fewer than ``min_updates_for_scores``
    well-formed updates only steps 1-2 apply.
    """

    name = "robust"

    def __init__(
        self,
        *,
        expected_dim: int | None = None,
        norm_z_clip: float = 3.5,
        norm_ratio_reject: float = 10.0,
        cosine_z_reject: float = 4.0,
        cosine_reject_below: float = 0.0,
        min_updates_for_scores: int = 4,
        reputation_alpha: float = 0.3,
        reputation_threshold: float = 0.5,
    ) -> None:
        owner = "RobustScreener"
        if expected_dim is not None and (not isinstance(expected_dim, int) or expected_dim < 1):
            raise param_error("expected_dim", owner, "None or an int >= 1", expected_dim, cls=ConfigError)
        for name, value in (("norm_z_clip", norm_z_clip), ("cosine_z_reject", cosine_z_reject)):
            if not isinstance(value, (int, float)) or not value > 0:
                raise param_error(name, owner, "a float > 0", value, cls=ConfigError)
        if not isinstance(norm_ratio_reject, (int, float)) or not norm_ratio_reject > 1:
            raise param_error("norm_ratio_reject", owner, "a float > 1", norm_ratio_reject, cls=ConfigError)
        if not isinstance(cosine_reject_below, (int, float)) or not -1.0 <= cosine_reject_below <= 1.0:
            raise param_error("cosine_reject_below", owner, "a float in [-1, 1]", cosine_reject_below,
                              cls=ConfigError)
        if not isinstance(min_updates_for_scores, int) or min_updates_for_scores < 3:
            raise param_error("min_updates_for_scores", owner, "an int >= 3", min_updates_for_scores,
                              cls=ConfigError)
        self.expected_dim = expected_dim
        self.norm_z_clip = float(norm_z_clip)
        self.norm_ratio_reject = float(norm_ratio_reject)
        self.cosine_z_reject = float(cosine_z_reject)
        self.cosine_reject_below = float(cosine_reject_below)
        self.min_updates_for_scores = min_updates_for_scores
        self.reputation = ReputationBook(alpha=reputation_alpha, threshold=reputation_threshold)
        self._last_round: dict[str, int] = {}

    def reset(self) -> None:
        self.reputation = ReputationBook(alpha=self.reputation.alpha, threshold=self.reputation.threshold)
        self._last_round = {}

    # ------------------------------------------------------------------ checks
    def _structural(self, updates, weights, ids) -> tuple[list[str | None], int]:
        """Per update: None if well-formed, else the rejection reason; and the dimension d."""
        if isinstance(updates, np.ndarray) and updates.ndim == 2:
            rows = list(updates)
        else:
            rows = [np.asarray(u) if not isinstance(u, np.ndarray) else u for u in updates]
        shapes = Counter(r.shape for r in rows if r.ndim == 1 and r.dtype.kind in "fiu")
        d = self.expected_dim or (shapes.most_common(1)[0][0][0] if shapes else 0)
        reasons: list[str | None] = []
        seen: set[str] = set()
        for row, w, sid in zip(rows, weights, ids, strict=True):
            if row.dtype.kind not in "fiu":
                reasons.append(f"malformed: dtype {row.dtype} is not a real number type")
            elif row.shape != (d,):
                reasons.append(f"malformed: expected a flat update of shape ({d},), got {row.shape}")
            elif not np.all(np.isfinite(row)):
                reasons.append("malformed: contains NaN or Inf")
            elif not (isinstance(w, (int, float, np.integer, np.floating)) and np.isfinite(w) and w >= 0):
                reasons.append(f"malformed: weight {w!r} is not a finite, non-negative example count")
            elif sid in seen:
                reasons.append("duplicate site id in this round")
            else:
                reasons.append(None)
            seen.add(sid)
        return reasons, d

    def _scores(self, x: np.ndarray) -> dict[str, np.ndarray]:
        centre = coordinate_median(x)
        sq, dots = row_stats(x, centre)
        c_sq = float(np.dot(centre.astype(np.float64), centre.astype(np.float64)))
        norms = np.sqrt(sq)
        denom = norms * np.sqrt(c_sq)
        cosine = np.divide(dots, denom, out=np.zeros_like(dots), where=denom > 0)
        dist = np.sqrt(np.maximum(sq - 2.0 * dots + c_sq, 0.0))
        norm_z, norm_med, norm_scale = robust_z(norms)
        return {
            "norm": norms,
            "norm_z": norm_z,
            "cosine": cosine,
            "cosine_z": robust_z(cosine, min_scale=1e-3)[0],
            "distance_z": robust_z(dist)[0],
            "norm_ratio": norms / norm_med if norm_med > 0 else np.where(norms > 0, np.inf, 1.0),
            "norm_bound": np.full(len(norms), norm_med + self.norm_z_clip * norm_scale),
        }

    def _judge(self, s: dict[str, float]) -> tuple[str, str]:
        if s["cosine"] < self.cosine_reject_below and s["cosine_z"] < -self.cosine_z_reject:
            return "rejected", (f"cosine outlier: points away from the robust centre "
                                f"(cosine {s['cosine']:.2f}, z {s['cosine_z']:.1f})")
        if s["norm_ratio"] > self.norm_ratio_reject and s["norm_z"] > self.norm_z_clip:
            return "rejected", (f"norm outlier: L2 norm {s['norm']:.3g} is {s['norm_ratio']:.1f}x the median "
                                f"(robust z {s['norm_z']:.1f})")
        if s["norm_z"] > self.norm_z_clip:
            return "clipped", (f"large norm {s['norm']:.3g} (robust z {s['norm_z']:.1f}) clipped to "
                               f"{s['norm_bound']:.3g}")
        return "accepted", "within robust bounds"

    # ------------------------------------------------------------------ screen
    def screen(self, updates, weights, site_ids, *, round_num):
        n = _check_lengths(updates, weights, site_ids, "RobustScreener.screen")
        ids = [str(s) for s in site_ids]
        w_in = list(np.asarray(weights, dtype=object)) if not isinstance(weights, np.ndarray) else list(weights)
        reasons, d = self._structural(updates, w_in, ids)
        good = [i for i in range(n) if reasons[i] is None]
        rows = updates if isinstance(updates, np.ndarray) and updates.ndim == 2 else None
        get = (lambda i: rows[i]) if rows is not None else (lambda i: np.asarray(updates[i]))
        x = np.stack([get(i) for i in good]).astype(np.float32) if good else np.zeros((0, d), np.float32)
        scores = self._scores(x) if len(good) >= self.min_updates_for_scores else None

        verdicts: list[Verdict] = []
        out_rows: list[np.ndarray] = []
        out_w: list[float] = []
        out_ids: list[str] = []
        slot = {i: k for k, i in enumerate(good)}
        for i, sid in enumerate(ids):
            if reasons[i] is not None:
                verdicts.append(Verdict(sid, "rejected", reasons[i], {"reputation": self.reputation.score(sid)}))
                self._record(sid, "rejected", round_num)
                continue
            k = slot[i]
            s = {name: float(v[k]) for name, v in scores.items()} if scores else {}
            decision, reason = self._judge(s) if scores else ("accepted", "too few updates for outlier scores")
            trusted = self.reputation.trusted(sid)
            s["reputation"] = self.reputation.score(sid)
            if not trusted:
                reason = (f"reputation {s['reputation']:.2f} below threshold {self.reputation.threshold:.2f} "
                          f"after repeated failures (this round alone: {decision})")
            self._record(sid, decision, round_num)
            if not trusted or decision == "rejected":
                verdicts.append(Verdict(sid, "rejected", reason, s))
                continue
            row = x[k]
            if decision == "clipped":
                row = row * np.float32(min(1.0, s["norm_bound"] / max(s["norm"], 1e-300)))
            verdicts.append(Verdict(sid, decision, reason, s))
            out_rows.append(row)
            out_w.append(float(w_in[i]))
            out_ids.append(sid)
        kept = np.stack(out_rows).astype(np.float32) if out_rows else np.zeros((0, d), np.float32)
        return ScreeningResult(kept, np.asarray(out_w, dtype=np.float64), out_ids, verdicts, int(round_num))

    def _record(self, sid: str, decision: str, round_num: int) -> None:
        if self._last_round.get(sid) == round_num:  # screening a round twice must not double-count
            return
        self._last_round[sid] = round_num
        self.reputation.record(sid, OUTCOME[decision])


_SCREENERS: dict[str, type[Screener]] = {"none": NoScreening, "robust": RobustScreener}


def create_screener(name: str, **params: Any) -> Screener:
    """Build a screener by name: ``"robust"`` (default choice) or ``"none"``."""
    if name not in _SCREENERS:
        raise ConfigError(
            f"The 'name' parameter of create_screener must be one of {sorted(_SCREENERS)}. Got {name!r} instead."
        )
    try:
        return _SCREENERS[name](**params)
    except TypeError as exc:
        raise ConfigError(
            f"The parameters of screener {name!r} must be keyword arguments it accepts. Got {sorted(params)} instead."
        ) from exc


def list_screeners() -> list[str]:
    return sorted(_SCREENERS)
