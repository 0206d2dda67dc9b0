"""The privacy probe of ``fedshield redteam`` (--privacy / [redteam.privacy]): config, scorecard, DP effect."""

import json
import textwrap

import pytest

from fedshield.cli import redteam as cli
from fedshield.config import validate_scenario
from fedshield.errors import ConfigError
from fedshield.redteam.config import PrivacyProbeConfig, load_redteam
from fedshield.redteam.defenses import defenses_available
from fedshield.redteam.privacy.probe import run_privacy_probe
from fedshield.redteam.scorecard import build_scorecard

pytestmark = pytest.mark.skipif(not defenses_available(), reason="fedshield.aggregation/screening not built yet")

TINY_BREAST = """
name = "tiny-breast"
seed = 3
rounds = 2

[data]
dataset = "breast-cancer"

[model]
name = "logistic"

[client]
local_steps = 5
batch_size = 8

[redteam]
attacks = ["none"]
defenses = ["fedavg"]
{extra}

[redteam.malicious]
count = 1
attack = "sign_flip"
"""


@pytest.fixture
def tiny_breast(tmp_path):
    def make(extra: str = "") -> str:
        path = tmp_path / "breast.toml"
        path.write_text(textwrap.dedent(TINY_BREAST.format(extra=extra)))
        return str(path)

    return make


# ----------------------------------------------------------------------------- config


def test_the_table_is_optional_and_parsed(tiny_breast):
    _, red = load_redteam(tiny_breast())
    assert red.privacy is None and red.privacy_probe is None
    _, red = load_redteam(tiny_breast("[redteam.privacy]\ninversion_images = 2\nadversarial_eps = [0.05, 0.1]"))
    assert red.privacy_probe == PrivacyProbeConfig(inversion_images=2, adversarial_eps=[0.05, 0.1])


def test_flag_turns_the_probe_on_keeping_the_table(tiny_breast):
    _, red = load_redteam(tiny_breast("[redteam.privacy]\nenabled = false\npgd_steps = 3"))
    assert red.privacy_probe is None
    on = red.with_privacy_probe().privacy_probe
    assert on is not None and on.pgd_steps == 3
    _, plain = load_redteam(tiny_breast())
    assert plain.with_privacy_probe().privacy_probe == PrivacyProbeConfig()


@pytest.mark.parametrize(("extra", "match"), [
    ("bogus = 1", r"unknown key 'redteam\.privacy\.bogus' \(given 1\); remove it or check its spelling"),
    ("inversion_images = -1", r"'redteam\.privacy\.inversion_images' key"),
    ("adversarial_eps = [0.1, -0.2]", "adversarial_eps"),
])
def test_bad_privacy_tables_fail_at_load_time(tiny_breast, extra, match):
    with pytest.raises(ConfigError, match=match) as err:
        load_redteam(tiny_breast(f"[redteam.privacy]\n{extra}"))
    assert str(err.value).startswith("Invalid scenario ")


def test_image_eps_is_on_the_255_scale(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text('[data]\ndataset = "pneumonia"\n[redteam.malicious]\ncount = 1\n'
                    "[redteam.privacy]\nadversarial_eps = [0.5, 300]\n")
    with pytest.raises(ConfigError, match=r"/255 scale .* Got \[0\.5, 300\.0\] instead"):
        load_redteam(path)


def test_unknown_site_stops_before_training(tiny_breast, tmp_path, capsys):
    code = cli.main([tiny_breast('[redteam.privacy]\nsite = "nowhere"'), "--out", str(tmp_path), "--quiet"])
    assert code == 2
    assert "site 'nowhere' is not in this federation" in capsys.readouterr().err
    assert not (tmp_path / "scorecard.json").exists()


# ----------------------------------------------------------------------------- end to end


def test_cli_privacy_flag_on_tabular_data(tiny_breast, tmp_path):
    out = tmp_path / "out"
    assert cli.main([tiny_breast(), "--privacy", "--out", str(out), "--quiet"]) == 0
    card = json.loads((out / "scorecard.json").read_text())
    p = card["privacy"]
    assert "_figures" not in p
    assert p["inversion"]["skipped"].startswith("tabular")
    mia = p["membership"]
    assert 0 <= mia["auc"] <= 1 and 0 <= mia["tpr_at_1pct_fpr"] <= 1 and mia["members"] == mia["non_members"] > 50
    adv = p["adversarial"]
    assert adv["eps"] == [0.05, 0.1, 0.25, 0.5] and len(adv["fgsm"]) == len(adv["pgd"]) == 4
    assert all(0 <= a <= 1 for a in adv["fgsm"] + adv["pgd"]) and adv["pgd"][-1] <= adv["clean_accuracy"]
    assert adv["pgd_steps"] == 10 and "standard deviations" in adv["eps_units"]
    assert p["defenses"]["dp"] == {"mode": "off"} and p["defenses"]["secure_aggregation"] == {"enabled": False}
    assert all(p[k]["seconds"] >= 0 for k in ("training", "membership", "adversarial"))
    assert set(p["figures"]) == {"membership", "adversarial"}
    assert all((out / name).is_file() for name in p["figures"].values())
    html = (out / "scorecard.html").read_text()
    assert "Privacy and evasion probe" in html and "Skipped: tabular" in html and "TPR at 1% FPR" in html


def test_no_probe_no_section(tiny_breast):
    scenario, red = load_redteam(tiny_breast())
    card = build_scorecard([], scenario=scenario, redteam=red, attacks=["none"], defenses=["fedavg"], seconds=0.0)
    assert "privacy" not in card


def test_probe_is_deterministic(tiny_breast):
    scenario, _ = load_redteam(tiny_breast())
    cfg = PrivacyProbeConfig(adversarial_eps=[0.1], pgd_steps=3)
    a, b = (run_privacy_probe(scenario, cfg) for _ in range(2))

    def strip(p):
        return {k: {kk: vv for kk, vv in v.items() if kk != "seconds"} if isinstance(v, dict) else v
                for k, v in p.items() if k not in ("seconds", "_figures")}

    assert strip(a) == strip(b)


@pytest.mark.filterwarnings("ignore:noise is drawn from a seeded pseudo-random generator")
def test_dp_sgd_lowers_inversion_quality_on_pneumonia(shared_data_dir, tmp_path):
    base = {"seed": 0, "rounds": 1,
            "data": {"dataset": "pneumonia", "data_dir": str(shared_data_dir), "num_sites": 5},
            "model": {"name": "cnn", "params": {"channels": 8}},
            "client": {"local_steps": 5, "batch_size": 16}}
    cfg = PrivacyProbeConfig(inversion_images=2, inversion_iterations=30, membership_examples=100,
                             adversarial_eps=[2, 8], adversarial_examples=32, pgd_steps=3)
    plain = run_privacy_probe(validate_scenario(base), cfg)
    dp = run_privacy_probe(validate_scenario({**base, "privacy": {"mode": "sample"}}), cfg)
    inv, inv_dp = plain["inversion"], dp["inversion"]
    assert inv["server_sees"] == "the plain gradient" and inv_dp["server_sees"].startswith("a DP-SGD step")
    assert dp["defenses"]["dp"]["mode"] == "sample" and dp["defenses"]["dp"]["max_grad_norm"] == 1.0
    assert inv["images"] == inv_dp["images"] == 2 and inv["iterations"] == 30
    assert inv_dp["psnr_mean"] < inv["psnr_mean"] - 1.0, (inv_dp["psnr_mean"], inv["psnr_mean"])
    assert inv_dp["ssim_mean"] < inv["ssim_mean"]
    assert inv["label_accuracy"] == 1.0  # iDLG: the batch-1 bias gradient's sign gives the label
    assert inv["reference_psnr_dataset_mean_image"] > 10
    assert inv_dp["reidentified"] == 0.0 and inv["reidentified_chance"] == pytest.approx(0.01)
    assert dp["adversarial"]["eps"] == [2.0, 8.0] and "x/255" in dp["adversarial"]["eps_units"]
    # the figures the scorecard draws: reconstructions beside the originals
    from fedshield.redteam.scorecard import write_scorecard

    card = {"scenario": "p", "dataset": "pneumonia", "rounds": 1, "seed": 0, "attacks": [], "defenses": {},
            "cells": [], "summary": {}, "malicious": {"from_round": 1}, "malicious_sites": [], "privacy": dp}
    write_scorecard(card, tmp_path)
    saved = json.loads((tmp_path / "scorecard.json").read_text())["privacy"]
    assert saved["figures"]["inversion"] == "privacy_inversion.png" and (tmp_path / "privacy_inversion.png").is_file()
    assert "_figures" in dp  # the caller's dict is not changed


def test_under_secure_aggregation_the_whole_sum_is_inverted_as_one_batch(shared_data_dir):
    raw = {"seed": 0, "rounds": 1, "data": {"dataset": "pneumonia", "data_dir": str(shared_data_dir), "num_sites": 5},
           "model": {"name": "cnn", "params": {"channels": 8}}, "client": {"local_steps": 2, "batch_size": 16}}
    cfg = PrivacyProbeConfig(inversion_images=2, inversion_iterations=40, membership=False, adversarial_eps=[])
    plain = run_privacy_probe(validate_scenario(raw), cfg)["inversion"]
    inv = run_privacy_probe(validate_scenario({**raw, "secure_aggregation": {"enabled": True}}), cfg)["inversion"]
    assert plain["inverted_batch"] == 1 and plain["records_scored"] == 2
    assert inv["inverted_batch"] == 5 and inv["records_scored"] == 10 and len(inv["psnr_per_image"]) == 2
    assert inv["server_sees"].startswith("only the mean of 5 sites' messages")
    assert 0.0 <= inv["label_chance"] <= 1.0 and 0.0 <= inv["label_accuracy"] <= 1.0
    # re-identification comes with its baseline: the other message's reconstructions, same matching
    assert 0.0 <= inv["reidentified"] <= 1.0 and 0.0 <= inv["reidentified_control"] <= 1.0
    assert inv["psnr_target_mean"] < plain["psnr_target_mean"], (inv["psnr_target_mean"], plain["psnr_target_mean"])
