"""PneumoniaMNIST over 5 hospitals (Dirichlet alpha 0.5), canonical 624-image test split.

The MedMNIST v2 benchmark's centralized ResNet-18 at 28x28 reports AUC 0.944, ACC 0.854
(Yang et al., Scientific Data 2023). The scenario is examples/pneumonia.toml.

    .venv/bin/python benchmarks/pneumonia.py [--data-dir DIR] [--rounds N] [--seed S]
"""

from __future__ import annotations

import argparse
import time

from _common import REPO, data_dir, headline
from fedshield.config import load_scenario
from fedshield.simulation import simulate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data-dir")
    ap.add_argument("--rounds", type=int)
    ap.add_argument("--seed", type=int)
    args = ap.parse_args()
    scenario = load_scenario(REPO / "examples" / "pneumonia.toml", overrides={"rounds": args.rounds, "seed": args.seed})
    scenario = scenario.model_copy(update={"data": scenario.data.model_copy(update={"data_dir": data_dir(args.data_dir)})})
    t0 = time.perf_counter()

    def show(rec) -> None:
        c = rec.evaluation["central_test"]
        print(f"round {rec.round_num:>3}  test acc {c['accuracy']:.4f}  AUC {c['auc']:.4f}  "
              f"sens {c['sensitivity']:.3f}  spec {c['specificity']:.3f}  ({rec.seconds:.1f} s)", flush=True)

    result = simulate(scenario, on_round=show)
    seconds = time.perf_counter() - t0
    final = result.history[-1].evaluation["central_test"]
    print(f"PneumoniaMNIST, 5 sites, alpha 0.5, {len(result.history)} rounds, seed {scenario.seed}: "
          f"test AUC {final['auc']:.4f}, accuracy {final['accuracy']:.4f} "
          f"(MedMNIST v2 ResNet-18 28x28: AUC 0.944, ACC 0.854)")
    headline({"test_auc": round(final["auc"], 4), "test_accuracy": round(final["accuracy"], 4),
              "seconds": round(seconds, 1)})


if __name__ == "__main__":
    main()
