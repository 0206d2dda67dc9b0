"""`fedshield report`: transparency report and PIA from a real run and its ledger."""

import json
import sqlite3

import pytest

from fedshield.cli.main import main


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "run"
    assert main(["simulate", "--rounds", "2", "--quiet", "--out", str(out)]) == 0
    return out


def test_run_dir_holds_a_verifiable_ledger(run_dir, capsys):
    assert (run_dir / "ledger.sqlite").is_file() and (run_dir / "coordinator.pub").is_file()
    assert not list(run_dir.glob("*.key")), "the private key must stay out of the run directory"
    assert main(["audit", "verify", str(run_dir / "ledger.sqlite"), "--public-key", str(run_dir / "coordinator.pub")]) == 0


def test_report_writes_transparency_and_pia(run_dir):
    assert main(["report", str(run_dir)]) == 0
    t = json.loads((run_dir / "transparency.json").read_text())
    m = json.loads((run_dir / "metrics.json").read_text())
    assert t["final_model_sha256"] == m["final"]["model_sha256"]
    assert t["ledger"]["signed_tree_head"]["tree_size"] == t["ledger"]["entries"]  # model release is signed too
    kinds = t["ledger"]["entries_by_kind"]
    assert kinds["run_config"] == 1 and kinds["model_release"] == 1 and kinds["round_end"] == 2
    assert kinds["update"] == 2 * len(m["sites"])
    pia = json.loads((run_dir / "pia.json").read_text())
    risks = {r["threat"]: r["risk"] for r in pia["c_risks"]}
    assert risks["gradient inversion"] == "high"  # DP off: flagged, not hidden
    assert risks["poisoning"] == "high"  # plain mean, no screening
    assert any(g["threat"] == "gradient inversion" for g in pia["gaps"])
    hipaa = {h["section"]: h["status"] for h in pia["hipaa_164_312"]}
    assert hipaa["164.312(b)"] == "met"
    assert "Data protection impact assessment" in (run_dir / "pia.html").read_text()
    assert t["ledger"]["signed_tree_head"]["root_hash"] in (run_dir / "transparency.html").read_text()


def test_report_refuses_a_tampered_ledger(run_dir, tmp_path, capsys):
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    for stale in copy.glob("transparency.*"):
        stale.unlink()
    con = sqlite3.connect(copy / "ledger.sqlite")
    for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
        con.execute(f"DROP TRIGGER {name}")  # an attacker with file access drops the guards
    con.execute("UPDATE entries SET body = replace(body, 'trained', 'skipped_') WHERE kind = 'participant'")
    con.commit()
    con.close()
    assert main(["report", str(copy)]) == 4
    assert "error:" in capsys.readouterr().err
    assert not (copy / "transparency.json").exists()


def test_report_on_missing_dir_is_a_data_error(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nothing")]) == 3
    assert "fedshield simulate --out" in capsys.readouterr().err


def test_pia_names_the_secure_aggregation_protocol():
    from fedshield.reports.controls import active_controls

    for protocol, words in (("secagg+", "unmasks only sums"), ("ckks", "only the sites hold the secret key")):
        c = active_controls({"secure_aggregation": {"enabled": True, "protocol": protocol}}, ledger_verified=False)
        assert c["secure_aggregation_protocol"] == protocol
        from fedshield.reports.pia import _SECURE_PROTOCOLS

        assert words in _SECURE_PROTOCOLS[protocol]
    assert active_controls({}, ledger_verified=False)["secure_aggregation_protocol"] is None


def test_pia_rates_what_the_server_sees_before_any_noise():
    from fedshield.reports.controls import active_controls
    from fedshield.reports.pia import _rate_inversion

    def rate(batch, steps, **sections):
        return _rate_inversion(active_controls({"secure_aggregation": {"enabled": True},
                                                "client": {"batch_size": batch, "local_steps": steps},
                                                **sections}, ledger_verified=False))

    level, why = rate(1, 1, secure_aggregation={"enabled": True, "unsafe_allow_small_updates": True})
    assert level == "high" and "mixes at most 1 record(s)" in why and "re-identifies" in why
    level, why = rate(4, 4)  # 16 records per update: the floor
    assert level == "medium" and "mixes" not in why
    level, _ = rate(1, 1, privacy={"mode": "client", "epsilon": 8, "noise_placement": "distributed"})
    assert level == "low"
    # Server-side client-level noise comes after the server has seen the (summed) updates.
    level, why = rate(32, 10, privacy={"mode": "client", "epsilon": 8, "noise_placement": "server"})
    assert level == "medium" and "added at the server" in why
    level, why = rate(32, 10, privacy={"mode": "client", "epsilon": 8}, secure_aggregation={"enabled": False})
    assert level == "high" and "before any DP noise" in why
    level, _ = rate(32, 10, privacy={"mode": "sample", "epsilon": 8}, secure_aggregation={"enabled": False})
    assert level == "low"


def test_controls_name_the_sites_with_adversarial_training():
    from fedshield.reports.controls import active_controls

    def at(section):
        return active_controls({"adversarial_training": section}, ledger_verified=False)["adversarial_training"]

    assert at({}) == "off"
    assert at({"enabled": True, "sites": {"b": {"enabled": False}}}) == "all sites except b"
    assert at({"sites": {"a": {"enabled": True}, "b": {"eps": 4}}}) == "sites a"
