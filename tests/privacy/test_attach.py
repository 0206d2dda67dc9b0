"""attach_privacy on a real (small) Fed-Heart-Disease federation."""

import json
import warnings

import pytest

from fedshield.errors import ConfigError
from fedshield.privacy import PrivacyConfig, attach_privacy, privacy_html, privacy_summary
from fedshield.privacy.analysis import epsilon
from fedshield.privacy.sample_dp import poisson_sample_rate
from fedshield.privacy.client_dp import DistributedNoiseTransform, DPFedAvgAggregator
from fedshield.privacy.sample_dp import DPSGDTrainer


def _run(fed):
    from fedshield.simulation import run_federation

    return run_federation(fed)


def test_off_is_a_no_op(heart_federation):
    fed = heart_federation()
    agg = fed.stages.aggregator
    attach_privacy(fed, PrivacyConfig())
    assert fed.stages.privacy is None and fed.stages.aggregator is agg
    assert privacy_summary(fed) == {"mode": "off"}


def test_sample_mode_reports_epsilon_per_site_per_round(heart_federation):
    fed = heart_federation()
    attach_privacy(fed, {"mode": "sample", "epsilon": 2.0, "delta": 1e-3, "sites": {"va": {"epsilon": 4.0}}})
    assert all(isinstance(s.local_trainer, DPSGDTrainer) for s in fed.sites)
    result = _run(fed)
    assert result.stopped_early is None
    assert set(result.history[-1].privacy["epsilon"]) == {"cleveland", "hungarian", "switzerland", "va"}
    summary = privacy_summary(fed)
    json.dumps(summary)
    assert summary["rounds"] == [1, 2]
    for sid, eps in summary["epsilon_per_round"].items():
        assert len(eps) == 2 and 0 < eps[0] < eps[1] <= summary["budgets"][sid]["epsilon"]
    assert summary["budgets"]["va"]["epsilon"] == 4.0
    # calibrated to spend (nearly) the whole budget in the planned rounds
    assert summary["final_epsilon"]["cleveland"] == pytest.approx(2.0, rel=0.05)
    assert any("not suitable for production" in w for w in summary["warnings"])
    html = privacy_html(summary)
    assert "data:image/png;base64," in html and "cleveland" in html


def test_delta_above_one_over_n_warns(heart_federation):
    fed = heart_federation()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        attach_privacy(fed, PrivacyConfig(mode="sample", epsilon=2.0, delta=0.05))
    assert any("'switzerland'" in str(w.message) and "1/N" in str(w.message) for w in caught)
    assert any("1/N" in w for w in privacy_summary(fed)["warnings"])


def test_noise_too_small_for_the_budget_is_refused_at_load_time(heart_federation):
    fed = heart_federation()
    with pytest.raises(ConfigError, match=r"privacy.noise_multiplier.*too small.*budget epsilon=1"):
        attach_privacy(fed, PrivacyConfig(mode="sample", epsilon=1.0, delta=1e-3, noise_multiplier=0.5))


def test_exhausted_budgets_refuse_sites_and_end_the_run_cleanly(heart_federation):
    fed = heart_federation(rounds=6)
    rate = {s.site_id: poisson_sample_rate(num_records=s.data.num_train, batch_size=4) for s in fed.sites}
    rounds_affordable = {"cleveland": 2, "hungarian": 3, "switzerland": 1, "va": 2}
    budgets = {sid: {"epsilon": epsilon([(1.0, rate[sid], 5 * k)], delta=1e-3) * 1.001}
               for sid, k in rounds_affordable.items()}
    cfg = PrivacyConfig(mode="sample", delta=1e-3, noise_multiplier=1.0, allow_budget_exhaustion=True, sites=budgets)
    attach_privacy(fed, cfg)
    result = _run(fed)
    assert result.stopped_early is not None and "may train" in result.stopped_early
    assert result.history[0].refused == {}
    assert "privacy budget" in result.history[1].refused["switzerland"]
    assert [r.participants for r in result.history] == [
        ["cleveland", "hungarian", "switzerland", "va"], ["cleveland", "hungarian", "va"], ["hungarian"]]
    summary = privacy_summary(fed)
    assert set(summary["exhausted"]) == {"cleveland", "hungarian", "switzerland", "va"}
    for sid, eps in summary["final_epsilon"].items():
        assert eps <= summary["budgets"][sid]["epsilon"]


@pytest.mark.parametrize("placement,adaptive", [("server", False), ("server", True), ("distributed", False)])
def test_client_mode_runs_and_accounts_every_round(heart_federation, placement, adaptive):
    fed = heart_federation(rounds=3)
    cfg = PrivacyConfig(mode="client", epsilon=8.0, delta=1e-3, clipping_norm=0.05, noise_placement=placement,
                        adaptive_clipping={"enabled": adaptive, "count_noise_multiplier": 5.0}, accountant="pld")
    attach_privacy(fed, cfg)
    assert isinstance(fed.stages.aggregator, DPFedAvgAggregator)
    first = fed.sites[0].transforms[0] if fed.sites[0].transforms else None
    assert isinstance(first, DistributedNoiseTransform) == (placement == "distributed")
    result = _run(fed)
    assert result.stopped_early is None
    summary = privacy_summary(fed)
    json.dumps(summary)
    assert summary["accountant"] == "pld"
    eps = summary["epsilon_per_round"]["va"]
    assert len(eps) == 3 and eps[-1] == pytest.approx(8.0, rel=0.05)
    assert len(summary["clipping_norm_per_round"]) == 3
    if adaptive:
        assert summary["clipping_norm_per_round"][0] != summary["clipping_norm_per_round"][-1]


def test_secure_mode_reports_a_secure_source(heart_federation):
    fed = heart_federation(rounds=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "not for production" warning in secure mode
        attach_privacy(fed, PrivacyConfig(mode="client", epsilon=8.0, delta=1e-3, secure_mode=True))
    _run(fed)
    summary = privacy_summary(fed)
    assert summary["secure_mode"] is True and "urandom" in summary["noise_source"]


def test_fedprox_is_refused_with_sample_dp(heart_federation):
    fed = heart_federation(client={"proximal_mu": 0.1})
    with pytest.raises(ConfigError, match="proximal_mu"):
        attach_privacy(fed, PrivacyConfig(mode="sample", epsilon=2.0, delta=1e-3))
