"""Fed-Heart-Disease with FLamby's protocol: FedAvg baseline and FedShield's best.

Protocol (FLamby, Ogier du Terrail et al., NeurIPS 2022 Datasets & Benchmarks): the four
hospitals as sites, 15 rounds of 100 local steps of batch 4, seeds 42-46, metric = mean of
the four per-site test accuracies of the global model. FLamby reports FedAvg 0.685 +/- 0.028,
its best strategy 0.731 (FedAdagrad/FedYogi), pooled training 0.735.

    .venv/bin/python benchmarks/heart_disease.py [--data-dir DIR] [--seeds 42 43 44 45 46]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from _common import data_dir, headline
from fedshield.config import validate_scenario
from fedshield.simulation import simulate

PROTOCOL = {"rounds": 15, "client": {"local_steps": 100, "batch_size": 4}}

# name -> scenario fragment. "fedavg" is FLamby's FedAvg (logistic regression, SGD lr 1e-3).
CONFIGS: dict[str, dict] = {
    "fedavg": {"model": {"name": "logistic"}, "client": {"learning_rate": 0.001}, "server": {"optimizer": "fedavg"}},
    "fedadagrad-logistic": {"model": {"name": "logistic"}, "client": {"learning_rate": 0.001},
                            "server": {"optimizer": "fedadagrad", "learning_rate": 0.3}},
    "fedyogi-mlp": {"model": {"name": "mlp", "params": {"hidden_units": 32}}, "client": {"learning_rate": 0.003},
                    "server": {"optimizer": "fedyogi", "learning_rate": 0.01}},
    "fedadam-mlp": {"model": {"name": "mlp", "params": {"hidden_units": 32}}, "client": {"learning_rate": 0.001},
                    "server": {"optimizer": "fedadam", "learning_rate": 0.03, "beta2": 0.9}},
}


def scenario_for(name: str, seed: int, ddir: str):
    frag = CONFIGS[name]
    raw = {"name": f"heart-{name}", "seed": seed, "rounds": PROTOCOL["rounds"],
           "data": {"dataset": "heart-disease", "data_dir": ddir},
           "model": frag["model"], "server": frag["server"],
           "client": {**PROTOCOL["client"], **frag["client"]}}
    return validate_scenario(raw)


def run_config(name: str, seeds: list[int], ddir: str) -> dict:
    per_seed, per_site, pooled = [], [], []
    for seed in seeds:
        result = simulate(scenario_for(name, seed, ddir))
        final = result.history[-1].evaluation
        per_seed.append(final["mean_site_accuracy"])
        per_site.append({k: v["accuracy"] for k, v in final["per_site"].items()})
        pooled.append(final["pooled"]["accuracy"])
    sites = list(per_site[0])
    return {
        "mean": float(np.mean(per_seed)), "std": float(np.std(per_seed)),
        "per_site": {s: float(np.mean([p[s] for p in per_site])) for s in sites},
        "pooled": float(np.mean(pooled)),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data-dir")
    ap.add_argument("--seeds", type=int, nargs="+", default=[42, 43, 44, 45, 46])
    args = ap.parse_args()
    ddir = data_dir(args.data_dir)
    t0 = time.perf_counter()
    results = {name: run_config(name, args.seeds, ddir) for name in CONFIGS}
    seconds = time.perf_counter() - t0
    sites = list(results["fedavg"]["per_site"])
    print(f"Fed-Heart-Disease, FLamby protocol, seeds {args.seeds}")
    print(f"{'config':<22}{'mean site acc':>16}" + "".join(f"{s:>13}" for s in sites) + f"{'pooled':>9}")
    for name, r in results.items():
        print(f"{name:<22}{r['mean']:>9.4f} ± {r['std']:.3f}" + "".join(f"{r['per_site'][s]:>13.3f}" for s in sites)
              + f"{r['pooled']:>9.3f}")
    print("FLamby (published): FedAvg 0.685 ± 0.028; best FL strategy 0.731; pooled training 0.735")
    best = max((n for n in results if n != "fedavg"), key=lambda n: results[n]["mean"])
    headline({"fedavg_mean_site_accuracy": round(results["fedavg"]["mean"], 4),
              "best_mean_site_accuracy": round(results[best]["mean"], 4),
              "best_config": best, "seconds": round(seconds, 1)})


if __name__ == "__main__":
    main()
