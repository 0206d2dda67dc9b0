"""Update screening: malformed, large-norm and sign-flipped updates; reputation; passthrough."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fedshield.errors import AggregationError, ConfigError
from fedshield.screening import (
    NoScreening,
    RobustScreener,
    ScreeningResult,
    create_screener,
    list_screeners,
    robust_z,
)

D = 200


def honest(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.normal(size=D) + 0.5 * rng.normal(size=(n, D))).astype(np.float32)


def ids(n: int) -> list[str]:
    return [f"site-{i}" for i in range(n)]


def by_site(result: ScreeningResult) -> dict:
    return {v.site_id: v for v in result.verdicts}


def test_honest_updates_are_all_accepted():
    x = honest(10)
    res = RobustScreener().screen(x, np.ones(10), ids(10), round_num=1)
    assert res.counts() == {"accepted": 10, "clipped": 0, "rejected": 0}
    np.testing.assert_array_equal(res.updates, x)
    assert res.site_ids == ids(10) and res.weights.shape == (10,)


def test_malformed_updates_are_rejected_with_a_reason():
    x = list(honest(8))
    x[1] = x[1][:-3]  # wrong shape
    x[2] = x[2].copy()
    x[2][5] = np.nan  # NaN
    x[3] = np.array(["a"] * D)  # not numeric
    x[4] = np.inf * np.ones(D, dtype=np.float32)
    weights = [1.0, 1.0, 1.0, 1.0, 1.0, -2.0, 1.0, 1.0]  # negative weight at 5
    res = RobustScreener().screen(x, weights, ids(8), round_num=1)
    v = by_site(res)
    assert "shape" in v["site-1"].reason and v["site-1"].decision == "rejected"
    assert "NaN" in v["site-2"].reason and "NaN" in v["site-4"].reason
    assert "dtype" in v["site-3"].reason
    assert "weight" in v["site-5"].reason
    assert res.site_ids == ["site-0", "site-6", "site-7"] and res.updates.shape == (3, D)


def test_large_norm_attacker_is_clipped_or_rejected():
    x = honest(10)
    x[3] *= 8.0  # moderately large: clipped
    x[7] *= 1e4  # absurd: rejected
    res = RobustScreener().screen(x, np.ones(10), ids(10), round_num=1)
    v = by_site(res)
    assert v["site-3"].decision == "clipped" and v["site-7"].decision == "rejected"
    k = res.site_ids.index("site-3")
    bound = v["site-3"].scores["norm_bound"]
    assert np.linalg.norm(res.updates[k]) == pytest.approx(bound, rel=1e-5)
    assert bound < np.linalg.norm(x[3])
    assert all(v[s].decision == "accepted" for s in ids(10) if s not in ("site-3", "site-7"))


def test_sign_flipped_attacker_is_flagged_by_cosine():
    x = honest(10)
    x[2] = -x[2]
    res = RobustScreener().screen(x, np.ones(10), ids(10), round_num=1)
    v = by_site(res)["site-2"]
    assert v.decision == "rejected" and "cosine" in v.reason
    assert v.scores["cosine"] < 0 and v.scores["cosine_z"] < -4


def test_reputation_decays_for_a_repeat_offender_and_recovers():
    screener = RobustScreener(reputation_alpha=0.3, reputation_threshold=0.5)
    history = []
    for t in range(4):
        x = honest(8, seed=t)
        x[0] = -x[0]  # site-0 attacks every round
        res = screener.screen(x, np.ones(8), ids(8), round_num=t)
        history.append(screener.reputation.score("site-0"))
        assert by_site(res)["site-0"].decision == "rejected"
    assert history == sorted(history, reverse=True) and history[-1] < 0.5
    assert screener.reputation.score("site-1") == pytest.approx(1.0)
    # now honest again: still refused while below the threshold, with that reason...
    res = screener.screen(honest(8, seed=10), np.ones(8), ids(8), round_num=10)
    assert "reputation" in by_site(res)["site-0"].reason
    # ...but the good behaviour counts, so the site is readmitted after a few rounds
    for t in range(11, 16):
        res = screener.screen(honest(8, seed=t), np.ones(8), ids(8), round_num=t)
    assert by_site(res)["site-0"].decision == "accepted"


def test_same_round_is_not_counted_twice():
    screener = RobustScreener()
    x = honest(8)
    x[0] = -x[0]
    screener.screen(x, np.ones(8), ids(8), round_num=3)
    once = screener.reputation.score("site-0")
    screener.screen(x, np.ones(8), ids(8), round_num=3)
    assert screener.reputation.score("site-0") == once


def test_input_is_never_modified_and_verdicts_are_json():
    x = honest(9)
    x[4] *= 6.0
    x.setflags(write=False)
    before = x.copy()
    res = RobustScreener().screen(x, np.ones(9), ids(9), round_num=2)
    assert np.array_equal(x, before)
    doc = json.loads(json.dumps(res.to_dict(), allow_nan=False))
    assert doc["round"] == 2 and len(doc["verdicts"]) == 9
    assert set(doc["verdicts"][0]) == {"site_id", "decision", "reason", "scores"}


def test_identical_majority_still_gives_finite_scores():
    row = honest(1)[0]
    x = np.repeat(row[None], 6, axis=0)
    x[5] = -row
    res = RobustScreener().screen(x, np.ones(6), ids(6), round_num=0)
    json.dumps(res.to_dict(), allow_nan=False)
    assert by_site(res)["site-5"].decision == "rejected"


def test_duplicate_site_ids_and_too_few_updates():
    x = honest(3)
    res = RobustScreener().screen(x, np.ones(3), ["a", "b", "a"], round_num=0)
    assert [v.decision for v in res.verdicts] == ["accepted", "accepted", "rejected"]
    assert "duplicate" in res.verdicts[2].reason
    assert "too few" in res.verdicts[0].reason


def test_length_mismatch_and_bad_params():
    with pytest.raises(AggregationError, match="one entry per site"):
        RobustScreener().screen(honest(3), np.ones(2), ids(3), round_num=0)
    with pytest.raises(ConfigError, match="norm_z_clip"):
        RobustScreener(norm_z_clip=-1)
    with pytest.raises(ConfigError, match="must be one of"):
        create_screener("strict")


def test_no_screening_is_a_passthrough():
    x = honest(4)
    x[0] = -100 * x[0]
    res = NoScreening().screen(x, [1, 2, 3, 4], ids(4), round_num=0)
    assert res.counts()["accepted"] == 4 and np.array_equal(res.updates, x)
    assert isinstance(create_screener("none"), NoScreening)
    assert list_screeners() == ["none", "robust"]


def test_robust_z_resists_outliers():
    z, med, scale = robust_z(np.array([1.0, 1.1, 0.9, 1.0, 1e9]))
    assert med == 1.0 and z[-1] > 1e6 and abs(z[0]) < 1


def test_screening_feeds_the_pipeline():
    from fedshield.aggregation import RobustPipeline

    x = honest(12)
    x[0] = -x[0]
    res = create_screener("robust").screen(x, np.ones(12), ids(12), round_num=0)
    out = RobustPipeline(aggregator="foolsgold")(res.updates, res.weights, client_ids=res.site_ids)
    assert out.shape == (D,)
