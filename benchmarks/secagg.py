"""FedShield SecAgg+ versus Flower 1.42's SecAgg+, side by side, on one core.

Run:  .venv/bin/python benchmarks/secagg.py   (Flower runs in a .venv-peers subprocess)

Why these scopes, so both sides do the same work:
* client cost: one client's four stage functions (key adverts, Shamir sharing +
  share encryption, quantize + mask, unmask shares), d = 10^6, k = 10 neighbours
  (Flower: num_shares = 11, i.e. k neighbours plus itself; same threshold t = 6).
  Flower's ``_setup/_share_keys/_collect_masked_vectors/_unmask`` are called
  directly with its own (de)serialisation; ours includes ``masked.tobytes()``.
* unmask: Flower's ``SecAggPlusWorkflow.unmask_stage`` driven by an in-memory
  grid (its message building, the clients' trivial share lookups, Shamir
  recombination, mask regeneration, dequantisation; the strategy's
  aggregate_fit is stubbed out) versus our server's equivalent span: closing the
  masked-input stage, the clients' ``unmask`` calls, ``receive`` and ``close_unmask``.
  One dropout means a client silent at the masked-input stage, so its pairwise
  masks must be reconstructed and removed.
* whole server, n = 100, d = 10^6, k = 14, 10 clients silent at masked input:
  every SecAggServer call of the round (clients' time excluded).
The process (and the Flower subprocess) is pinned to one CPU with one BLAS thread.
The last line of output is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PEERS_PYTHON = ROOT / ".venv-peers" / "bin" / "python"
CLIP = 1.0
THREADS_ENV = {k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}


def pin_one_core() -> int:
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    os.environ.update(THREADS_ENV)
    return cpu


def update_for(client_id: int, d: int) -> np.ndarray:
    return np.random.default_rng(client_id).normal(0.0, 0.3, d).astype(np.float32)


class LazyUpdates(Mapping):
    """Updates made on demand so that 100 x 4 MB inputs never coexist in memory."""

    def __init__(self, ids: list[int], d: int) -> None:
        self._ids, self._d = ids, d

    def __getitem__(self, cid: int) -> np.ndarray:
        return update_for(cid, self._d)

    def __iter__(self) -> Iterator[int]:
        return iter(self._ids)

    def __len__(self) -> int:
        return len(self._ids)


# ----------------------------------------------------------------------------- FedShield
def fs_config(*, n: int, d: int, k: int, t: int):
    from fedshield.secagg import SecAggConfig

    return SecAggConfig.for_round(
        round_id=os.urandom(16),
        client_ids=list(range(1, n + 1)),
        dim_params=d,
        graph_seed=os.urandom(32),
        clip_range=CLIP,
        degree=k,
        threshold=t,
        max_weight=1000,
    )


def fs_round_until_masked(cfg, *, timed: int | None, drop: set[int]):
    """Run stages 0-2 for every client; return (server, clients, requests, seconds of ``timed``)."""
    from fedshield.secagg import SecAggClient, SecAggServer

    ids = list(cfg.client_ids)
    clients = {c: SecAggClient(client_id=c, config=cfg) for c in ids}
    server = SecAggServer(config=cfg)
    spent = 0.0

    def call(cid, fn, *args, **kwargs):
        nonlocal spent
        start = time.perf_counter()
        out = fn(*args, **kwargs)
        if cid == timed:
            spent += time.perf_counter() - start
        return out

    for c in ids:
        server.receive(call(c, clients[c].advertise_keys))
    rosters = server.close_stage()
    for c in ids:
        server.receive(call(c, clients[c].share_keys, rosters[c]))
    inboxes = server.close_stage()
    for c in ids:
        if c in drop:
            continue
        masked = call(
            c, clients[c].masked_input, inboxes[c], update=update_for(c, cfg.dim_params), weight=500
        )
        call(c, masked.masked.tobytes)
        server.receive(masked)
        del masked
    return server, clients, spent


def fs_client_cost(*, d: int, k: int, t: int, reps: int) -> float:
    times = []
    for _ in range(reps):
        cfg = fs_config(n=k + 2, d=d, k=k, t=t)
        target = cfg.client_ids[0]
        server, clients, spent = fs_round_until_masked(cfg, timed=target, drop=set())
        requests = server.close_stage()
        start = time.perf_counter()
        clients[target].unmask(requests[target])
        times.append(spent + time.perf_counter() - start)
    return statistics.median(times)


def fs_unmask(*, n: int, d: int, k: int, t: int, n_drop: int, reps: int) -> float:
    times = []
    for _ in range(reps):
        cfg = fs_config(n=n, d=d, k=k, t=t)
        drop = set(cfg.client_ids[1 : 1 + n_drop])
        server, clients, _ = fs_round_until_masked(cfg, timed=None, drop=drop)
        start = time.perf_counter()
        requests = server.close_stage()
        for c, req in requests.items():
            server.receive(clients[c].unmask(req))
        result = server.close_stage()
        times.append(time.perf_counter() - start)
        assert len(result.survivor_ids) == n - n_drop
    return statistics.median(times)


def fs_server_total(*, n: int, d: int, k: int, drop_fraction: float, reps: int) -> tuple[float, float]:
    from fedshield.secagg import run_secagg

    times, errors = [], []
    for rep in range(reps):
        cfg = fs_config(n=n, d=d, k=k, t=(k + 1) // 2 + 1)
        rng = np.random.default_rng(rep)
        drop = set(rng.choice(cfg.client_ids, size=round(drop_fraction * n), replace=False).tolist())
        run = run_secagg(
            config=cfg,
            updates=LazyUpdates(list(cfg.client_ids), d),
            weights={c: 1000 for c in cfg.client_ids},
            dropouts={"masked_input": drop},
            record_messages=False,
        )
        times.append(run.transcript.server_seconds)
        errors.append(_max_error_vs_plain_mean(run.result, d))
    return statistics.median(times), max(errors)


def _max_error_vs_plain_mean(result, d: int) -> float:
    acc = np.zeros(d)
    for c in result.survivor_ids:
        acc += np.clip(update_for(c, d).astype(np.float64), -CLIP, CLIP)
    return float(np.abs(result.mean - acc / len(result.survivor_ids)).max() / result.error_bound)


# ----------------------------------------------------------------------------- Flower
def flower_worker(args: argparse.Namespace) -> None:
    """Runs under .venv-peers; prints one JSON object with Flower's timings."""
    pin_one_core()
    import logging

    logging.disable(logging.CRITICAL)
    out = {
        "client": flower_client_cost(
            d=args.d_client, k=args.k_client, t=args.t_client, reps=args.reps_client
        ),
        "unmask": flower_unmask(n=12, d=10_000, shares=11, t=6, n_drop=0, reps=args.reps_unmask),
        "unmask_dropout": flower_unmask(n=12, d=10_000, shares=11, t=6, n_drop=1, reps=args.reps_unmask),
    }
    print(json.dumps(out))


def flower_client_cost(*, d: int, k: int, t: int, reps: int) -> float:
    import importlib

    from flwr.common import ndarrays_to_parameters
    from flwr.common.secure_aggregation.secaggplus_constants import Key

    mod = importlib.import_module("flwr.client.mod.secure_aggregation.secaggplus_mod")
    setup = {
        Key.SAMPLE_NUMBER: k + 1,
        Key.SHARE_NUMBER: k + 1,
        Key.THRESHOLD: t,
        Key.CLIPPING_RANGE: CLIP,
        Key.TARGET_RANGE: 1 << 22,
        Key.MOD_RANGE: 1 << 32,
        Key.MAX_WEIGHT: 1000.0,
    }
    nids = list(range(1, k + 2))
    target = nids[0]
    params = ndarrays_to_parameters([update_for(target, d)])
    times = []
    for _ in range(reps):
        states = {}
        spent = 0.0
        for nid in nids:
            states[nid] = mod.SecAggPlusState()
            states[nid].nid = nid
            start = time.perf_counter()
            adv = mod._setup(states[nid], dict(setup))
            if nid == target:
                spent += time.perf_counter() - start
        keys = {str(nid): [states[nid].pk1, states[nid].pk2] for nid in nids}
        inbox_src, inbox_ct = [], []
        for nid in nids:
            start = time.perf_counter()
            res = mod._share_keys(states[nid], dict(keys))
            if nid == target:
                spent += time.perf_counter() - start
            for dst, ct in zip(res[Key.DESTINATION_LIST], res[Key.CIPHERTEXT_LIST], strict=True):
                if dst == target:
                    inbox_src.append(nid)
                    inbox_ct.append(ct)
        start = time.perf_counter()
        mod._collect_masked_vectors(
            states[target], {Key.CIPHERTEXT_LIST: inbox_ct, Key.SOURCE_LIST: inbox_src}, 500, params
        )
        mod._unmask(states[target], {Key.ACTIVE_NODE_ID_LIST: nids, Key.DEAD_NODE_ID_LIST: []})
        spent += time.perf_counter() - start
        times.append(spent)
        del adv
    return statistics.median(times)


def flower_unmask(*, n: int, d: int, shares: int, t: int, n_drop: int, reps: int) -> float:
    import copy
    import types

    from flwr.app import ConfigRecord, Context, Message, RecordDict
    from flwr.client.mod.secure_aggregation.secaggplus_mod import secaggplus_mod
    from flwr.common import Code, FitIns, FitRes, Status, ndarrays_to_parameters
    from flwr.compat.common import recorddict_compat as compat
    from flwr.server.workflow.constant import MAIN_CONFIGS_RECORD, MAIN_PARAMS_RECORD
    from flwr.server.workflow.constant import Key as WorkflowKey
    from flwr.server.workflow.secure_aggregation.secaggplus_workflow import SecAggPlusWorkflow, WorkflowState
    from flwr.supercore.task_identity import TaskIdentity

    TaskIdentity.run_id, TaskIdentity.node_id, TaskIdentity.task_id = 1, 0, 1
    nids = list(range(1, n + 1))
    params = {nid: ndarrays_to_parameters([update_for(nid, d)]) for nid in nids}

    class Grid:
        """In-memory grid: copies each message (as a wire would) and runs the client mod."""

        silent: set[int] = set()

        def __init__(self) -> None:
            self.contexts = {
                nid: Context(run_id=1, node_id=nid, node_config={}, state=RecordDict(), run_config={})
                for nid in nids
            }

        def send_and_receive(self, messages, timeout=None):
            replies = []
            for msg in messages:
                nid = msg.metadata.dst_node_id
                msg = copy.deepcopy(msg)

                def train(m, ctxt, nid=nid):
                    fitres = FitRes(Status(Code.OK, ""), params[nid], 500, {})
                    return Message(compat.fitres_to_recorddict(fitres, True), reply_to=m)

                reply = secaggplus_mod(msg, self.contexts[nid], train)
                if nid not in self.silent:
                    replies.append(reply)
            return replies

    class Strategy:
        def configure_fit(self, server_round, parameters, client_manager):
            return [(types.SimpleNamespace(node_id=nid), FitIns(parameters, {})) for nid in nids]

        def aggregate_fit(self, server_round, results, failures):
            return None, {}

    times = []
    for _ in range(reps):
        init = compat.parameters_to_arrayrecord(ndarrays_to_parameters([np.zeros(d, np.float32)]), True)
        context = types.SimpleNamespace(
            strategy=Strategy(),
            client_manager=types.SimpleNamespace(num_available=lambda: n),
            history=None,
            state=RecordDict(
                {MAIN_CONFIGS_RECORD: ConfigRecord({WorkflowKey.CURRENT_ROUND: 1}), MAIN_PARAMS_RECORD: init}
            ),
        )
        workflow, state, grid = (
            SecAggPlusWorkflow(shares, t, max_weight=1000.0, clipping_range=CLIP),
            WorkflowState(),
            Grid(),
        )
        assert workflow.setup_stage(grid, context, state) and workflow.share_keys_stage(grid, context, state)
        grid.silent = set(nids[1 : 1 + n_drop])
        assert workflow.collect_masked_vectors_stage(grid, context, state)
        grid.silent = set()
        start = time.perf_counter()
        assert workflow.unmask_stage(grid, context, state)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run_flower(args: argparse.Namespace) -> dict:
    if not PEERS_PYTHON.exists():
        raise SystemExit(f"Flower's venv is missing: create {PEERS_PYTHON} with flwr==1.42.0 first.")
    cmd = [str(PEERS_PYTHON), __file__, "--flower-worker"] + [
        f"--{k.replace('_', '-')}={v}"
        for k, v in vars(args).items()
        if k not in {"flower_worker", "skip_flower"}
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **THREADS_ENV}, check=False)
    if done.returncode != 0:
        raise SystemExit(f"The Flower worker failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flower-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--d-client", type=int, default=1_000_000)
    parser.add_argument("--k-client", type=int, default=10)
    parser.add_argument("--t-client", type=int, default=6)
    parser.add_argument("--reps-client", type=int, default=5)
    parser.add_argument("--reps-unmask", type=int, default=7)
    parser.add_argument("--reps-server", type=int, default=3)
    parser.add_argument("--n-server", type=int, default=100)
    parser.add_argument("--d-server", type=int, default=1_000_000)
    args = parser.parse_args()
    if args.flower_worker:
        flower_worker(args)
        return
    cpu = pin_one_core()
    flower = run_flower(args)  # first, so the two sides do not overlap on the core
    fs_client = fs_client_cost(d=args.d_client, k=args.k_client, t=args.t_client, reps=args.reps_client)
    fs_unmask0 = fs_unmask(n=12, d=10_000, k=10, t=6, n_drop=0, reps=args.reps_unmask)
    fs_unmask1 = fs_unmask(n=12, d=10_000, k=10, t=6, n_drop=1, reps=args.reps_unmask)
    server_s, err_ratio = fs_server_total(
        n=args.n_server, d=args.d_server, k=14, drop_fraction=0.1, reps=args.reps_server
    )
    bytes_per_param = 4 * (args.d_server + 1) / args.d_server

    rows = [
        (f"client cost, d={args.d_client:.0e}, k={args.k_client}", fs_client, flower["client"]),
        ("server unmask, n=12, d=1e4, k=10, t=6, 0 dropouts", fs_unmask0, flower["unmask"]),
        ("server unmask, n=12, d=1e4, k=10, t=6, 1 dropout", fs_unmask1, flower["unmask_dropout"]),
        (f"whole server, n={args.n_server}, d={args.d_server:.0e}, k=14, 10% drop", server_s, None),
    ]
    print(f"SecAgg+ benchmark (median of runs, pinned to CPU {cpu}, one thread)")
    print(f"{'measurement':<55} {'FedShield s':>12} {'Flower 1.42 s':>14} {'ratio':>9}")
    for name, ours, theirs in rows:
        ratio = f"{theirs / ours:8.1f}x" if theirs else "-"
        flower_s = f"{theirs:14.4f}" if theirs else f"{'not run':>14}"
        print(f"{name:<55} {ours:>12.4f} {flower_s} {ratio:>9}")
    print(f"bytes uploaded per parameter: {bytes_per_param:.6f} (uint32 words, plus one word for the weight)")
    print(f"n=100 mean error / stated bound: {err_ratio:.3f} (must be <= 1)")
    from _common import headline  # benchmarks/ is sys.path[0] when run as a script

    headline(
        {
            "client_cost_over_flower_d1e6": round(fs_client / flower["client"], 4),
            "unmask_speedup_vs_flower_n12": round(flower["unmask"] / fs_unmask0, 1),
            "unmask_speedup_vs_flower_n12_dropout": round(flower["unmask_dropout"] / fs_unmask1, 1),
            "server_seconds_n100_d1e6": round(server_s, 3),
            "bytes_per_param": round(bytes_per_param, 3),
        }
    )


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    main()
