"""Robust-aggregation speed benchmark: FedShield vs ByzFL 0.0.11 and Flower 1.42, side by side.

Run it in the peers venv (``benchmarks/peers.sh`` builds it)::

    .venv-peers/bin/python benchmarks/aggregators.py            # full sizes
    .venv-peers/bin/python benchmarks/aggregators.py --quick    # small sizes, seconds

What is measured, and why this way:

* Same process, same data, one thread everywhere (OMP/MKL/OpenBLAS/numba env
  vars set before numpy is imported, ``torch.set_num_threads(1)``), so the
  ratio compares implementations, not thread pools. Each timing is the best of
  ``--reps`` calls, in CPU time of the process (``--wall``: wall clock), so
  other load on a shared machine does not skew the ratio (a peer slower than ``--slow-s`` gets one call: its ratio is
  then conservative, since more repetitions could only lower FedShield's time).
  FedShield is warmed up once first so numba's one-off compilation is not timed.
* Peak memory: one subprocess per FedShield case. It warms up, resets the
  kernel's peak-RSS mark (``/proc/self/clear_refs``), records its RSS,
  allocates the input in place (no temporaries), runs the rule once and reads
  the peak (``VmHWM``). peak_memory_over_input = (peak RSS - RSS before the
  input) / input bytes, so it *includes* the input itself (1.0 is the floor).
  tracemalloc is not used: it misses numba and BLAS allocations.
* matches_reference: every FedShield kernel agrees with the plain float64
  reference implementation of its definition (``fedshield.aggregation.reference``)
  on small inputs, and on the benchmark data it agrees with the peers that
  implement the same definition (median, trimmed mean, Krum pick, Multi-Krum,
  Bulyan, NNM). ByzFL's geometric median starts at 0 and stops after T=3
  steps, so it is timed but not compared.

The last line of output is one JSON object (see ``--help``).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS",
             "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import gc  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import types  # noqa: E402
from collections.abc import Callable  # noqa: E402

import numpy as np  # noqa: E402

from fedshield.aggregation import kernels as K  # noqa: E402
from fedshield.aggregation import reference as R  # noqa: E402

RULES = ("median", "trimmed_mean", "krum", "multi_krum", "bulyan", "geometric_median", "nnm")
FULL_SIZES = ((50, 1_000_000, 10), (100, 100_000, 20))
QUICK_SIZES = ((50, 20_000, 10), (100, 5_000, 20))


# --------------------------------------------------------------------------- data
def make_updates(n: int, d: int, f: int, seed: int = 0) -> np.ndarray:
    """n - f honest updates around a shared direction plus f Byzantine ones, built in place."""
    rng = np.random.default_rng(seed)
    x = np.empty((n, d), dtype=np.float32)
    common = rng.standard_normal(d, dtype=np.float32) * np.float32(0.5)
    for i in range(n):
        rng.standard_normal(out=x[i], dtype=np.float32)
        if i < n - f:
            x[i] *= np.float32(0.3)
            x[i] += common
        else:  # large, sign-flipped: a classic attack that breaks the mean
            x[i] *= np.float32(2.0)
            x[i] -= np.float32(4.0) * common
    return x


# ---------------------------------------------------------------------- FedShield
def fedshield_impl(rule: str, n: int, f: int) -> Callable[[np.ndarray], np.ndarray]:
    return {
        "median": lambda x: K.coordinate_median(x),
        "trimmed_mean": lambda x: K.trimmed_mean(x, f=f),
        "krum": lambda x: K.krum(x, f=f),
        "multi_krum": lambda x: K.multi_krum(x, f=f),
        "bulyan": lambda x: K.bulyan(x, f=f),
        "geometric_median": lambda x: K.geometric_median(x),
        "nnm": lambda x: K.nearest_neighbor_mixing(x, f=f),
    }[rule]


# -------------------------------------------------------------------------- peers
def load_byzfl():
    """Import byzfl's aggregators without ``byzfl/__init__`` (it pulls torchvision,
    whose compiled ops fail to load next to the CPU torch build)."""
    if "byzfl.aggregators" in sys.modules:
        return sys.modules["byzfl.aggregators"]
    spec = importlib.util.find_spec("byzfl")
    if spec is None:
        return None
    pkg = types.ModuleType("byzfl")
    pkg.__path__ = list(spec.submodule_search_locations)
    sys.modules["byzfl"] = pkg
    import byzfl.aggregators as agg

    return agg


def peer_impls(rule: str, n: int, f: int) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    impls: dict[str, Callable[[np.ndarray], np.ndarray]] = {}
    byz = load_byzfl()
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover
        torch = None
    if byz is not None:
        ctor = {
            "median": lambda: byz.Median(),
            "trimmed_mean": lambda: byz.TrMean(f=f),
            "krum": lambda: byz.Krum(f=f),
            "multi_krum": lambda: byz.MultiKrum(f=f),
            "geometric_median": lambda: byz.GeometricMedian(),
            "nnm": lambda: byz.NNM(f=f),
        }.get(rule)
        if ctor is not None:
            impls["byzfl-numpy"] = lambda x, c=ctor: np.asarray(c()(x))
            if torch is not None:
                impls["byzfl-torch"] = lambda x, c=ctor: c()(torch.from_numpy(x)).numpy()
    try:
        from flwr.server.strategy import aggregate as fa
    except ImportError:  # pragma: no cover
        fa = None
    if fa is not None:

        def results(x):
            return [([x[i]], 1) for i in range(len(x))]

        flwr = {
            "median": lambda x: fa.aggregate_median(results(x))[0],
            "trimmed_mean": lambda x: fa.aggregate_trimmed_avg(results(x), f / n)[0],
            "krum": lambda x: fa.aggregate_krum(results(x), f, 0)[0],
            "multi_krum": lambda x: fa.aggregate_krum(results(x), f, n - f)[0],
            "bulyan": lambda x: fa.aggregate_bulyan(results(x), f, fa.aggregate_krum, to_keep=0)[0],
        }.get(rule)
        if flwr is not None:
            impls["flwr"] = flwr
    return impls


# Peers whose definition equals FedShield's, so their output must agree.
AGREEING = {
    "median": ("flwr", 0.0),
    "trimmed_mean": ("flwr", 1e-5),
    "krum": ("flwr", 0.0),
    "multi_krum": ("flwr", 1e-5),
    "bulyan": ("flwr", 1e-5),
    "nnm": ("byzfl-numpy", 1e-5),
}


def bulyan_differences_are_ties(x: np.ndarray, f: int, ours: np.ndarray, theirs: np.ndarray, tol: float) -> bool:
    """True if every coordinate where Bulyan outputs differ has a tie at the
    beta-closest-to-the-median boundary: FedShield breaks such ties towards the
    smaller value, Flower's argpartition arbitrarily; both follow the definition."""
    from fedshield.aggregation._numeric import gram, sq_distances
    from fedshield.aggregation.kernels.bulyan import bulyan_select

    bad = np.flatnonzero(~np.isclose(ours, theirs, rtol=tol, atol=tol * 10))
    chosen = np.sort(bulyan_select(sq_distances(gram(x)[0]), f=f))
    beta = len(chosen) - 2 * f
    for j in bad:
        col = x[chosen, j]
        dist = np.sort(np.abs(col - np.median(col)))
        if beta >= len(col) or dist[beta - 1] != dist[beta]:
            return False
    return True


# ------------------------------------------------------------------------- timing
# CPU time of this (single-threaded) process: unlike wall time it does not
# count the slices other processes get on a shared machine, so ratios stay
# meaningful under contention. ``--wall`` switches to wall-clock time.
CLOCK = time.process_time


def best_time(fn: Callable[[], object], reps: int, slow_s: float) -> tuple[float, object]:
    best = float("inf")
    out = None
    for r in range(reps):
        gc.collect()
        t0 = CLOCK()
        out = fn()
        best = min(best, CLOCK() - t0)
        if r == 0 and best > slow_s:
            break
    return best, out


# ------------------------------------------------------------------------- memory
def _status_kib(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} missing from /proc/self/status")


def memory_child(rule: str, n: int, d: int, f: int) -> None:
    impl = fedshield_impl(rule, n, f)
    impl(make_updates(n, 512, f, seed=1))  # compile / warm up on a small input
    gc.collect()
    # Reset the kernel's peak-RSS mark (VmHWM) so imports and JIT compilation,
    # which peak and then free, do not count; ru_maxrss cannot be reset.
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
    before = _status_kib("VmRSS") * 1024
    x = make_updates(n, d, f)
    impl(x)
    peak = _status_kib("VmHWM") * 1024
    print(json.dumps({"ratio": (peak - before) / x.nbytes}))


def measure_memory(rule: str, n: int, d: int, f: int) -> float:
    cmd = [sys.executable, os.path.abspath(__file__), "--memory-child", rule, str(n), str(d), str(f)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
    return float(json.loads(out)["ratio"])


# ---------------------------------------------------------------- reference check
def small_reference_checks() -> dict[str, bool]:
    """Each FedShield kernel vs the plain float64 reference on small inputs."""
    ok: dict[str, bool] = {}
    for n, d, f in ((7, 33, 1), (12, 300, 2), (20, 1000, 4), (50, 257, 10)):
        x = make_updates(n, d, f, seed=n)
        w = np.random.default_rng(d).uniform(1, 5, n)
        pairs = {
            "median": (K.coordinate_median(x), R.ref_median(x), 0.0),
            "trimmed_mean": (K.trimmed_mean(x, f=f), R.ref_trimmed_mean(x, f), 1e-5),
            "krum": (K.krum(x, f=f), R.ref_krum(x, f), 0.0),
            "multi_krum": (K.multi_krum(x, f=f), R.ref_multi_krum(x, f), 1e-5),
            "geometric_median": (K.geometric_median(x, w), R.ref_geometric_median(x, w), 1e-4),
            "nnm": (K.nearest_neighbor_mixing(x, f=f), R.ref_nnm(x, f), 1e-5),
        }
        if n >= 4 * f + 3:
            pairs["bulyan"] = (K.bulyan(x, f=f), R.ref_bulyan(x, f), 1e-5)
        for rule, (fast, ref, tol) in pairs.items():
            if tol:
                good = np.allclose(fast, ref, rtol=tol, atol=tol * 10)
            else:
                good = np.array_equal(fast, ref.astype(np.float32))
            ok[rule] = ok.get(rule, True) and bool(good)
    return ok


# --------------------------------------------------------------------------- main
def bench_rule(rule: str, x: np.ndarray, f: int, args: argparse.Namespace) -> dict:
    """Time FedShield and every peer on one rule and one input; check agreement."""
    n, d = x.shape
    ours = fedshield_impl(rule, n, f)
    ours(x[:, :4096].copy())  # JIT warm-up (compilation is not timed)
    t_ours, out_ours = best_time(lambda: ours(x), args.reps, args.slow_s)
    peers: dict[str, float] = {}
    outputs: dict[str, np.ndarray] = {}
    for name, impl in peer_impls(rule, n, f).items():
        if args.peers and name not in args.peers:
            continue
        t, out = best_time(lambda impl=impl: impl(x), args.reps, args.slow_s)
        peers[name], outputs[name] = t, np.asarray(out)
    fastest = min(peers, key=peers.get) if peers else None
    agrees = True
    if rule in AGREEING and AGREEING[rule][0] in outputs:
        peer, tol = AGREEING[rule]
        theirs = outputs[peer].astype(np.float32)
        agrees = bool(np.array_equal(out_ours, theirs) if tol == 0 else
                      np.allclose(out_ours, theirs, rtol=tol, atol=tol * 10))
        if not agrees and rule == "bulyan":
            agrees = bulyan_differences_are_ties(x, f, out_ours, theirs, tol)
    return {
        "fedshield_s": t_ours,
        "peers_s": peers,
        "fastest": fastest,
        "speedup": peers[fastest] / t_ours if fastest else float("nan"),
        "mem_over_input": None if args.skip_memory else measure_memory(rule, n, d, f),
        "agrees": agrees,
    }


def print_row(rule: str, r: dict) -> None:
    fastest = r["fastest"] or "-"
    peer_s = r["peers_s"].get(r["fastest"], float("nan"))
    mem = float("nan") if r["mem_over_input"] is None else r["mem_over_input"]
    others = ", ".join(f"{k} {v:.3f}" for k, v in sorted(r["peers_s"].items(), key=lambda kv: kv[1])[1:])
    print(f"{rule:<17}{r['fedshield_s']:>12.4f}{fastest:>22}{peer_s:>10.3f}{r['speedup']:>8.1f}x{mem:>8.2f}  "
          f"{'yes' if r['agrees'] else 'NO':<5}  {others}", flush=True)


def run(args: argparse.Namespace) -> dict:
    sizes = QUICK_SIZES if args.quick else FULL_SIZES
    rules = args.rules or RULES
    reference_ok = small_reference_checks()
    speedups: dict[str, float] = {}
    memory: dict[str, float] = {}
    agree: dict[str, bool] = {}
    for n, d, f in sizes:
        x = make_updates(n, d, f)
        read_s, _ = best_time(lambda x=x: float(x.sum()), 3, 1e9)
        print(f"\n== n={n} d={d:,} f={f}  ({x.nbytes / 2**20:.0f} MiB; one read pass {read_s:.3f} s) ==")
        header = (f"{'rule':<17}{'FedShield s':>12}{'fastest peer':>22}{'peer s':>10}{'speedup':>9}{'mem/in':>8}"
                  "  agree  other peers")
        print(header)
        print("-" * len(header))
        for rule in rules:
            r = bench_rule(rule, x, f, args)
            print_row(rule, r)
            speedups[rule] = min(speedups.get(rule, float("inf")), r["speedup"])
            if r["mem_over_input"] is not None:
                memory[rule] = max(memory.get(rule, 0.0), r["mem_over_input"])
            agree[rule] = agree.get(rule, True) and r["agrees"]
        del x
    matches = all(reference_ok.get(r, True) for r in rules) and all(agree.values())
    return {
        "speedup_vs_fastest_peer": {r: round(v, 2) for r, v in speedups.items()},
        "peak_memory_over_input": {r: round(v, 2) for r, v in memory.items()},
        "matches_reference": bool(matches),
        "reference_checks": reference_ok,
        "agrees_with_peer": agree,
        "sizes": [{"n": n, "d": d, "f": f} for n, d, f in sizes],
        "clock": "wall" if args.wall else "process CPU time",
        "note": "speedup: minimum over sizes; memory: maximum over sizes; one thread everywhere",
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (seconds, for CI / smoke tests)")
    parser.add_argument("--reps", type=int, default=5, help="repetitions per timing (best is kept)")
    parser.add_argument("--slow-s", type=float, default=3.0, help="time a call slower than this only once")
    parser.add_argument("--rules", nargs="*", choices=RULES, help="subset of rules")
    parser.add_argument("--peers", nargs="*", help="subset of peers: byzfl-numpy byzfl-torch flwr")
    parser.add_argument("--wall", action="store_true", help="time with the wall clock instead of CPU time")
    parser.add_argument("--skip-memory", action="store_true", help="skip the per-case memory subprocesses")
    parser.add_argument("--memory-child", nargs=4, metavar=("RULE", "N", "D", "F"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.wall:
        global CLOCK
        CLOCK = time.perf_counter
    if args.memory_child:
        rule, n, d, f = args.memory_child
        memory_child(rule, int(n), int(d), int(f))
        return
    result = run(args)
    print(json.dumps(result, separators=(",", ":")))


if __name__ == "__main__":
    main()
