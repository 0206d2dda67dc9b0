"""End to end: the CLI on the embedded default, determinism, and bad input -> exit codes."""

import json
import subprocess
import sys

import pytest

from fedshield.cli.main import main


def _run(*args):
    return subprocess.run([sys.executable, "-m", "fedshield.cli.main", *args], capture_output=True, text=True, timeout=300)


def test_default_scenario_end_to_end(tmp_path):
    out = tmp_path / "run"
    r = _run("simulate", "--rounds", "2", "--out", str(out))
    assert r.returncode == 0, r.stderr
    for name in ("config.json", "metrics.json", "timing.json", "model.pt", "report.html"):
        assert (out / name).is_file(), name
    doc = json.loads((out / "metrics.json").read_text())
    assert doc["dataset"] == "breast-cancer" and len(doc["sites"]) == 5 and doc["rounds_completed"] == 2
    final = doc["final"]
    assert set(final["per_site"]) == set(doc["sites"])
    assert 0.9 < final["pooled"]["accuracy"] <= 1.0  # federation-wide scaling: ~0.97 after 10 rounds
    assert "<img" in (out / "report.html").read_text()
    assert "round" in r.stdout


def test_same_seed_gives_identical_metrics(tmp_path):
    for name in ("a", "b"):
        assert main(["simulate", "--rounds", "2", "--seed", "3", "--quiet", "--out", str(tmp_path / name)]) == 0
    assert (tmp_path / "a" / "metrics.json").read_bytes() == (tmp_path / "b" / "metrics.json").read_bytes()
    assert main(["simulate", "--rounds", "2", "--seed", "4", "--quiet", "--out", str(tmp_path / "c")]) == 0
    assert (tmp_path / "a" / "metrics.json").read_bytes() != (tmp_path / "c" / "metrics.json").read_bytes()


@pytest.mark.parametrize(
    "args,code,message",
    [
        (["simulate", "--rounds", "-3"], 2, "'--rounds' parameter of fedshield simulate must be an int >= 1. Got -3"),
        (["simulate", "examples/missing.toml"], 2, "does not exist"),
    ],
)
def test_bad_arguments_give_documented_errors(args, code, message, capsys):
    assert main(args) == code
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and "Traceback" not in err


def test_bad_toml_key_and_missing_data_dir(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('[server]\noptimiser = "fedavg"\n')
    assert main(["simulate", str(bad), "--out", str(tmp_path / "x")]) == 2
    assert "unknown key 'server.optimiser'" in capsys.readouterr().err
    heart = tmp_path / "heart.toml"
    heart.write_text(f'[data]\ndataset = "heart-disease"\ndata_dir = "{tmp_path / "nowhere"}"\n')
    assert main(["simulate", str(heart), "--out", str(tmp_path / "y")]) == 3
    err = capsys.readouterr().err
    assert "FEDSHIELD_DATA_DIR" in err and "Traceback" not in err


def test_malformed_csv_is_a_data_error(tmp_path, capsys, shared_data_dir):
    import shutil

    ddir = tmp_path / "data" / "uci-heart-disease"
    shutil.copytree(shared_data_dir / "uci-heart-disease", ddir)
    (ddir / "processed.va.data").write_text("63,1,1,145\n")
    scen = tmp_path / "h.toml"
    scen.write_text(f'[data]\ndataset = "heart-disease"\ndata_dir = "{tmp_path / "data"}"\n')
    assert main(["simulate", str(scen), "--rounds", "1", "--out", str(tmp_path / "z")]) == 3
    err = capsys.readouterr().err
    assert "processed.va.data" in err and "line 1" in err


def test_failed_write_keeps_previous_run_and_leaves_no_partial_dir(tmp_path, monkeypatch):
    out = tmp_path / "r"
    assert main(["simulate", "--rounds", "1", "--quiet", "--out", str(out)]) == 0
    before = (out / "metrics.json").read_bytes()

    def boom(doc):
        raise RuntimeError("disk full")

    monkeypatch.setattr("fedshield.reports.html.render_report", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        main(["simulate", "--rounds", "2", "--quiet", "--out", str(out)])
    assert (out / "metrics.json").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != ".fedshield-keys") == ["r"]
