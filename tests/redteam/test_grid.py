import argparse
import json

import pytest

from fedshield.cli import redteam as cli
from fedshield.redteam.config import load_redteam
from fedshield.redteam.runner import run_cell, run_grid

from fedshield.redteam.defenses import defenses_available

needs_defenses = pytest.mark.skipif(not defenses_available(), reason="fedshield.aggregation/screening not built yet")

pytestmark = needs_defenses


def test_cell_scores_accuracy_backdoor_and_screening(tiny_heart):
    scenario, red = load_redteam(tiny_heart())
    cell = run_cell(scenario, red, attack="semantic_backdoor", defense="fedavg")
    assert cell["error"] is None, cell["error"]
    assert 0 <= cell["accuracy"] <= 1 and cell["test_examples"] > 200
    assert cell["backdoor_n"] > 0 and 0 <= cell["backdoor_success"] <= 1
    assert cell["malicious_sites"] == ["cleveland"]
    assert cell["screening"]["malicious_updates"] == 2  # cleveland, 2 rounds


def test_grid_is_deterministic_and_ordered(tiny_heart):
    scenario, red = load_redteam(tiny_heart(rounds=3))
    cells = run_grid(scenario, red, attacks=["none", "sign_flip"], defenses=["fedavg"])
    again = run_grid(scenario, red, attacks=["none", "sign_flip"], defenses=["fedavg"])
    assert [c["accuracy"] for c in cells] == [c["accuracy"] for c in again]
    assert [c["attack"] for c in cells] == ["none", "sign_flip"]


def test_cli_writes_the_scorecard(tiny_heart, tmp_path, capsys):
    out = tmp_path / "out"
    code = cli.main([str(tiny_heart()), "--attacks", "sign_flip,gaussian", "--defenses", "fedavg",
                     "--out", str(out), "--quiet"])
    assert code == 0
    card = json.loads((out / "scorecard.json").read_text())
    assert card["attacks"] == ["none", "sign_flip", "gaussian"]  # the clean baseline is always added
    assert {c["attack"] for c in card["cells"]} == set(card["attacks"])
    assert card["summary"]["fedavg"]["worst_attack"] in ("sign_flip", "gaussian")
    html = (out / "scorecard.html").read_text()
    assert "data:image/png;base64," in html and "fedavg" in html


def test_cli_reports_user_errors_with_exit_codes(tiny_heart, tmp_path, capsys):
    assert cli.main([str(tiny_heart()), "--attacks", "alei", "--out", str(tmp_path)]) == 2
    assert "Did you mean 'alie'" in capsys.readouterr().err
    assert cli.main([str(tiny_heart()), "--workers", "0", "--out", str(tmp_path)]) == 2
    assert cli.main([str(tmp_path / "missing.toml")]) == 2


def test_register_adds_the_subcommand():
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["redteam", "x.toml", "--attacks", "alie", "--workers", "2"])
    assert args.handler is cli.run and args.workers == 2


@pytest.mark.slow
def test_parallel_grid_matches_serial(tiny_heart):
    scenario, red = load_redteam(tiny_heart())
    serial = run_grid(scenario, red, attacks=["none", "ipm"], defenses=["fedavg"], workers=1)
    parallel = run_grid(scenario, red, attacks=["none", "ipm"], defenses=["fedavg"], workers=2)
    assert [c["accuracy"] for c in serial] == [c["accuracy"] for c in parallel]
    assert [c["backdoor_success"] for c in serial] == [c["backdoor_success"] for c in parallel]
