"""The privacy-attacks benchmark runs end to end on the real data (small budget) and prints
its headline with every figure its issue names."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
ISSUE_KEYS = {"inversion_psnr_undefended", "inversion_psnr_dp", "inversion_psnr_secagg", "mia_auc_undefended",
              "mia_auc_dp", "pgd_robust_accuracy_undefended", "pgd_robust_accuracy_adv_training",
              "adv_training_clean_drop", "seconds"}


@pytest.mark.slow
def test_quick_run_prints_the_issue_headline(shared_data_dir, tmp_path):
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks/privacy_attacks.py"), "--quick", "--data-dir", str(shared_data_dir),
         "--out-dir", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = json.loads(proc.stdout.strip().splitlines()[-1])
    assert ISSUE_KEYS <= set(doc)
    # Even the small budget shows the attack is real and DP's noise drowns it.
    assert doc["inversion_psnr_undefended"] > doc["inversion_psnr_dp"] + 10
    assert doc["inversion_psnr_undefended"] > doc["inversion_psnr_secagg_client_dp"] + 10
    # Batch-1 reconstructions single out their patient among 100; under DP they do not.
    assert doc["inversion_reidentified_undefended"] == 1.0
    assert doc["inversion_reidentified_dp"] == 0.0 and doc["inversion_reidentified_chance"] == 0.01
    # ... and each figure has its baseline: unrelated reconstructions through the same matching.
    assert doc["inversion_reidentified_undefended_control"] == 0.0
    assert 0.0 <= doc["inversion_reidentified_secagg_control"] <= 1.0
    assert "inversion_psnr_secagg_1_record_per_site_unsafe" in doc and "inversion_label_image_blind_secagg" in doc
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["dp"]["epsilon_spent_max"] <= 8.0 + 1e-6
    # The SecAgg + client-DP figure comes from the product's own sites and secure collector.
    ddp = report["inversion"]["ig_secagg5_b1_sites_ddp"]["dp_mechanism"]
    assert ddp["mode"] == "client" and ddp["sites_per_round"] == 5 and ddp["noise_multiplier"] > 1
    assert {"inversion_grid.png", "inversion_secagg.png", "mia_roc.png", "robust_accuracy.png"} <= {
        p.name for p in tmp_path.iterdir()}
