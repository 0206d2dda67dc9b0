"""Robust + secure: SecAgg+ per random bucket of s sites, robust aggregator over bucket means.

PneumoniaMNIST over 20 sites (Dirichlet alpha 0.5), CNN, 4 malicious sites (20 %).
Bucket size s = 1 is the unprotected baseline (the server sees and clips every
update); s = 2, 4, 5 run SecAgg+ inside each bucket; "secagg-mean" is one SecAgg+
round over all sites with the plain mean (what secure aggregation alone gives).

The attack is defined HERE, not in ``fedshield.redteam`` (benchmark-only, kept
minimal so the numbers do not move with the red-team code): a scaled sign flip
whose sender does not clip. Under masking it forges its masked words so that its
contribution to the bucket sum is s * target, target = clip_box(-LAMBDA * own
clipped update); the server's range check then clamps the bucket mean to the box.
That is the strongest thing a non-clipping site can do (see docs/robust_secure.md).
In the s = 1 baseline the attacker just sends -LAMBDA * its delta, which the server
clips (norm and box) itself.

    .venv/bin/python benchmarks/robust_secure.py [--quick] [--rounds N] [--local-steps K] [--data-dir DIR]

Ends with one JSON line: accuracy per (bucket size, aggregator).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _common import data_dir, headline

from fedshield.client.secagg_role import SecAggBegin, SecAggRole
from fedshield.client.trainer import predict_proba
from fedshield.config import Scenario
from fedshield.data import load_dataset
from fedshield.evaluation import binary_metrics
from fedshield.messages import FitRes
from fedshield.models.params import set_flat_params
from fedshield.secagg.messages import MaskedInput, ShareInbox
from fedshield.server.engine import run_round
from fedshield.server.secure_collect import SecureCollector
from fedshield.simulation import build_federation

N_SITES, N_MALICIOUS = 20, 4
CLIP_RANGE, CLIP_NORM, LAMBDA = 0.05, 1.0, 10.0


class SignFlipAttacker(SecAggRole):
    """Benchmark-only attacker (see module docstring); never clips, forges its masked words."""

    def fit(self, ins):  # s = 1 path: plaintext, the server clips
        res = self.site.fit(ins)
        return FitRes(res.site_id, res.round_num, (-LAMBDA * res.delta).astype(np.float32),
                      res.num_examples, res.metrics)

    def handle_stage(self, msg):
        if isinstance(msg, SecAggBegin):
            self._bucket = msg.config
        if not isinstance(msg, ShareInbox):
            return super().handle_stage(msg)
        cfg = self._bucket
        target = np.clip(-LAMBDA * self.last_input, -cfg.clip_range, cfg.clip_range)
        self._update = np.zeros(cfg.dim_params)  # encodes to exactly 0 (floor(0 + U) = 0)
        reply = super().handle_stage(msg)
        levels = (1 << (cfg.bits - 1)) - 1
        forged = np.rint(cfg.n_clients * target / cfg.clip_range * levels).astype(np.int64)
        masked = reply.masked.copy()
        masked[1:] += (forged % (1 << 32)).astype(np.uint32)  # wraps mod 2^32 like the masks
        return MaskedInput(reply.client_id, masked)


def scenario_for(ddir: str, *, aggregation: str, f: int, local_steps: int, seed: int) -> Scenario:
    params = {"f": f} if aggregation in ("trimmed_mean", "krum") else {}
    return Scenario.model_validate({
        "seed": seed,
        "data": {"dataset": "pneumonia", "data_dir": ddir, "num_sites": N_SITES, "alpha": 0.5},
        "model": {"name": "cnn"},
        "client": {"local_steps": local_steps, "batch_size": 32, "learning_rate": 0.05, "momentum": 0.9,
                   "class_weighting": True},
        "aggregation": {"name": aggregation, "params": params},
    })


def test_metrics(fed) -> tuple[float, float]:
    """(accuracy at 0.5, AUC) on the canonical pooled test split."""
    model = fed.model_factory()
    set_flat_params(model, fed.state.parameters)
    x, y = fed.dataset.pooled_test
    m = binary_metrics(y, predict_proba(model, x))
    return float(m["accuracy"]), float(m["auc"])


def run_one(ds, ddir, *, bucket_size, aggregation, rounds, local_steps, seed, malicious, attack=True):
    rows = N_SITES if bucket_size in (None, 1) else N_SITES // bucket_size
    f = max(1, min(len(malicious), (rows - 3) // 2))  # Krum needs rows > 2f + 2
    sc = scenario_for(ddir, aggregation=aggregation, f=f, local_steps=local_steps, seed=seed)
    bad = set(malicious) if attack else set()
    fed = build_federation(
        sc, dataset=ds,
        site_wrapper=lambda site, i: (SignFlipAttacker if site.site_id in bad else SecAggRole)(site),
    )
    fed.stages.evaluator = None
    fed.stages.collector = SecureCollector(
        clip_range=CLIP_RANGE, clip_norm=CLIP_NORM, bucket_size=bucket_size, weighting="uniform", seed=seed,
    )
    t0 = time.perf_counter()
    corrupted = []
    for _ in range(rounds):
        run_round(fed.state, fed.stages, fed.transport)
        reps = fed.stages.collector.last_report
        corrupted.append(sum(any(m in bad for m in r.members) for r in reps) / len(reps))
    return (*test_metrics(fed), time.perf_counter() - t0, float(np.mean(corrupted)))


def main() -> None:
    global LAMBDA
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir")
    ap.add_argument("--rounds", type=int)
    ap.add_argument("--local-steps", type=int, default=3)
    ap.add_argument("--aggregators", default="median,trimmed_mean",
                    help="comma-separated, e.g. median,trimmed_mean,krum (krum needs > 4 rows: s <= 4)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--scale", type=float, default=LAMBDA, help="sign-flip scale LAMBDA (default 10)")
    ap.add_argument("--quick", action="store_true", help="3 rounds, s in {1, 5}, median only")
    args = ap.parse_args()
    LAMBDA = args.scale
    ddir = data_dir(args.data_dir)
    rounds = args.rounds or (3 if args.quick else 10)
    sizes = [1, 5] if args.quick else [1, 2, 4, 5]
    aggregators = ["median"] if args.quick else args.aggregators.split(",")
    t_all = time.perf_counter()
    ds = load_dataset("pneumonia", data_dir=ddir, num_sites=N_SITES, alpha=0.5, seed=args.seed)
    rng = np.random.default_rng(args.seed + 12345)
    malicious = sorted(ds.sites[i].site_id for i in rng.choice(N_SITES, N_MALICIOUS, replace=False))
    print(f"PneumoniaMNIST, {N_SITES} sites, malicious {malicious}, {rounds} rounds x {args.local_steps} "
          f"local steps; clip_range {CLIP_RANGE}, clip_norm {CLIP_NORM}, sign flip x{LAMBDA}", flush=True)
    table: dict[str, dict[str, dict[str, float]]] = {}
    aucs: dict[str, dict[str, dict[str, float]]] = {}
    corrupted: dict[str, float] = {}
    kw = dict(rounds=rounds, local_steps=args.local_steps, seed=args.seed, malicious=malicious)
    settings = [("secagg-mean", None, "mean")] + [
        (f"s={s}", s, agg) for s in sizes for agg in aggregators if not (agg == "krum" and N_SITES // s <= 4)
    ]
    for key, size, agg in settings:
        for attack in (False, True):
            acc, auc, secs, bad = run_one(ds, ddir, bucket_size=size, aggregation=agg, attack=attack, **kw)
            tag = "attacked" if attack else "clean"
            table.setdefault(key, {}).setdefault(agg, {})[tag] = round(acc, 4)
            aucs.setdefault(key, {}).setdefault(agg, {})[tag] = round(auc, 4)
            if attack:
                corrupted[key] = round(bad, 3)
            print(f"  {key:>12}  {agg:>12}  {tag:>8}  acc {acc:.4f}  AUC {auc:.4f}  "
                  f"corrupted rows {bad:.0%}  ({secs:.0f} s)", flush=True)
    print("\n| setting | aggregator | acc clean | acc attacked | AUC clean | AUC attacked | corrupted rows |")
    print("|---|---|---|---|---|---|---|")
    for key, by_agg in table.items():
        for agg, accs in by_agg.items():
            a = aucs[key][agg]
            print(f"| {key} | {agg} | {accs['clean']:.4f} | {accs['attacked']:.4f} | {a['clean']:.4f} | "
                  f"{a['attacked']:.4f} | {corrupted[key]:.0%} |")
    headline({
        "accuracy_by_bucket_size": table,
        "auc_by_bucket_size": aucs,
        "corrupted_row_fraction": corrupted,
        "aggregators": aggregators,
        "rounds": rounds,
        "sign_flip_scale": LAMBDA,
        "seconds": round(time.perf_counter() - t_all, 1),
    })


if __name__ == "__main__":
    main()
