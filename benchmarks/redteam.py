"""Poisoning red team: FedAvg vs. FedShield's recommended defense, under every attack.

PneumoniaMNIST over 20 sites (Dirichlet alpha 0.5), 4 malicious (20%): FedAvg under
every attack; the recommended bundle's worst-case accuracy over {sign flip, Gaussian,
label flip, ALIE, IPM, min-max, min-sum, mimic}; the X-ray backdoor's success.
Heart disease, one of four hospitals malicious: every defense against the semantic
backdoor, model replacement, ALIE and IPM.

Cheaper than a paper setting on purpose (2 shared CPU cores): an 8-channel CNN, 10
local steps of batch 32, 15 rounds (``--rounds`` overrides) — see examples/redteam_*.toml.

    .venv/bin/python benchmarks/redteam.py [--quick] [--workers 2] [--out runs/redteam-bench]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from _common import REPO, data_dir, headline
from fedshield.redteam.attacks import WORST_CASE
from fedshield.redteam.config import load_redteam
from fedshield.redteam.runner import run_grid
from fedshield.redteam.scorecard import build_scorecard, write_scorecard

PNEUMONIA_ATTACKS = ["none", *WORST_CASE, "backdoor", "model_replacement", "fang", "sybil"]
HEART_ATTACKS = ["none", "semantic_backdoor", "model_replacement", "alie", "ipm", "sign_flip", "label_flip"]
HEART_DEFENSES = ["fedavg", "median", "trimmed_mean", "centered_clipping", "recommended"]
QUICK = {
    "pneumonia": (["none", "sign_flip", "alie", "backdoor"], 4),
    "heart": (["none", "semantic_backdoor", "alie", "ipm"], 5),
}


def _grid(toml: str, *, attacks, defenses, rounds, ddir, workers, out):
    scenario, red = load_redteam(REPO / "examples" / toml, overrides={"rounds": rounds})
    scenario = scenario.model_copy(update={"data": scenario.data.model_copy(update={"data_dir": ddir})})
    t0 = time.perf_counter()
    def progress(c):
        status = "ERROR " + c["error"][:80] if c["error"] else f"acc {c['accuracy']:.3f}"
        print(f"  {c['attack']:>18} x {c['defense']:<18} {status} ({c['seconds']:.0f} s)", flush=True)

    cells = run_grid(scenario, red, attacks=attacks, defenses=defenses, workers=workers, on_cell=progress)
    card = build_scorecard(cells, scenario=scenario, redteam=red, attacks=attacks, defenses=defenses,
                           seconds=time.perf_counter() - t0)
    if out:
        write_scorecard(card, Path(out) / toml.removesuffix(".toml"))
    return card


def _cell(card, attack, defense):
    return next((c for c in card["cells"] if c["attack"] == attack and c["defense"] == defense), {})


def _f(x, pct=False):
    return "  n/a" if x is None else (f"{100 * x:5.1f}" if pct else f"{x:.3f}")


def _table(card, title):
    defenses = list(card["defenses"])
    print(f"\n{title}: accuracy % / backdoor success % (attack x defense)")
    print(f"{'attack':>18} " + " ".join(f"{d:>21}" for d in defenses))
    for a in card["attacks"]:
        row = []
        for d in defenses:
            c = _cell(card, a, d)
            row.append("ERROR".rjust(21) if c.get("error") else
                       f"{_f(c.get('accuracy'), True)} / {_f(c.get('backdoor_success'), True)}".rjust(21))
        print(f"{a:>18} " + " ".join(row))
    for d, s in card["summary"].items():
        print(f"  {d}: clean {_f(s['clean_accuracy'])}, worst-case {_f(s['worst_case_accuracy'])} "
              f"({s['worst_attack']}), max backdoor {_f(s['max_backdoor_success'])} ({s['max_backdoor_attack']}), "
              f"screening TPR {_f(s['mean_screening_tpr'])} FPR {_f(s['mean_screening_fpr'])}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a few attacks and rounds: a smoke test, not the numbers")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=15, help="pneumonia rounds (the scenario file also says 15; heart keeps FLamby's 15)")
    ap.add_argument("--data-dir")
    ap.add_argument("--out", help="also write the two scorecards (json + html) under this folder")
    args = ap.parse_args()
    ddir = data_dir(args.data_dir)
    t0 = time.perf_counter()
    p_attacks, p_rounds = QUICK["pneumonia"] if args.quick else (PNEUMONIA_ATTACKS, args.rounds)
    h_attacks, h_rounds = QUICK["heart"] if args.quick else (HEART_ATTACKS, 15)
    heart = _grid("redteam_heart.toml", attacks=h_attacks, defenses=HEART_DEFENSES, rounds=h_rounds, ddir=ddir,
                  workers=args.workers, out=args.out)
    pneu = _grid("redteam_pneumonia.toml", attacks=p_attacks, defenses=["fedavg", "recommended"], rounds=p_rounds,
                 ddir=ddir, workers=args.workers, out=args.out)
    _table(heart, f"Heart disease, 1 of 4 hospitals malicious, {h_rounds} rounds")
    _table(pneu, f"PneumoniaMNIST, 4 of 20 sites malicious, {p_rounds} rounds")
    fed, rec = pneu["summary"]["fedavg"], pneu["summary"]["recommended"]
    clean = fed["clean_accuracy"]
    doc = {
        "clean_accuracy": clean,
        "fedavg_worst_case_accuracy": fed["worst_case_accuracy"],
        "defended_worst_case_accuracy": rec["worst_case_accuracy"],
        "backdoor_success_fedavg": _cell(pneu, "backdoor", "fedavg").get("backdoor_success"),
        "backdoor_success_defended": _cell(pneu, "backdoor", "recommended").get("backdoor_success"),
        "defended_clean_accuracy": rec["clean_accuracy"],
        "defense": "recommended = " + pneu["defenses"]["recommended"]["description"],
        "seconds": round(time.perf_counter() - t0, 1),
    }
    ok = [v is not None for v in (clean, rec["worst_case_accuracy"], doc["backdoor_success_defended"])]
    if all(ok):
        doc["worst_case_within_5_points"] = clean - rec["worst_case_accuracy"] <= 0.05
        doc["backdoor_at_most_5_percent"] = doc["backdoor_success_defended"] <= 0.05
        doc["clean_drop_at_most_2_points"] = clean - rec["clean_accuracy"] <= 0.02
    doc["quick"] = bool(args.quick)
    headline(doc)


if __name__ == "__main__":
    main()
