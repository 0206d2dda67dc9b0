"""Network path vs in-memory: 50 sites send signed d = 1,000,000 updates over mTLS.

    python benchmarks/network.py            # 50 sites, 1M params, 3 rounds
    python benchmarks/network.py --quick    # 8 sites, 100k params, 2 rounds

One server process running the engine's ``run_round`` through ``GrpcTransport``
with the streaming collector (the weighted mean as a running sum: memory O(d),
flat across rounds) and a few load-generator processes, each driving many sites
as threads (they do not train; each sends a fixed, per-site update, signed and
bound to the round's nonce like a real site). Reports the per-round time of the
network path over the in-memory ``run_round``, the server's sustained update
throughput (MB/s of float32 update bytes, 1 MB = 1e6 B) and its peak RSS, and
ends with ONE JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import headline  # noqa: E402

RUN_ID = "bench-network"


def site_id(i: int) -> str:
    return f"site-{i:03d}"


def make_pki(root: Path, n: int) -> None:
    from fedshield.cli.ca import registry_of
    from fedshield.pki.ca import init_ca, issue_certificate
    from fedshield.pki.enrollment import body_for, create_admins, load_admin_key, sign_body
    from cryptography import x509

    init_ca(root)
    keys = [load_admin_key(k) for k in create_admins(root, 3, 2)[:2]]
    issue_certificate(root, identity="server", role="server", hosts=("127.0.0.1",))
    reg = registry_of(root)
    for i in range(n):
        p = issue_certificate(root, identity=site_id(i), role="site", hours=4)
        body = body_for(x509.load_pem_x509_certificate(p.cert.read_bytes()), f"Hospital {i}")
        reg.append(body, [sign_body(body, *k) for k in keys])


def site_delta(i: int, d: int) -> np.ndarray:
    return (np.random.default_rng(i).standard_normal(d) * 1e-3).astype(np.float32)


# --- in-memory baseline ------------------------------------------------------

class _Passthrough:
    class _R:
        def __init__(self, u, w, ids):
            self.updates, self.weights, self.site_ids = u, w, ids
            self.verdicts = []

    def screen(self, updates, weights, site_ids, *, round_num):
        return self._R(updates, weights, list(site_ids))


def _mean(updates, weights, **_):
    w = np.asarray(weights, np.float64)
    return (w @ updates / w.sum()).astype(np.float32)


def memory_rounds(n: int, d: int, rounds: int) -> list[float]:
    from fedshield.messages import FitRes
    from fedshield.server.engine import RoundStages, ServerState, run_round
    from fedshield.server.optimizers import FedAvg
    from fedshield.server.sampling import UniformSampler
    from fedshield.transport import InMemoryTransport

    class Synthetic:
        def __init__(self, i):
            self.site_id, self.delta = site_id(i), site_delta(i, d)

        def fit(self, ins):
            return FitRes(self.site_id, ins.round_num, self.delta, 100, {})

    stages = RoundStages(sampler=UniformSampler(), screener=_Passthrough(), aggregator=_mean,
                         server_optimizer=FedAvg())
    state = ServerState(RUN_ID, np.zeros(d, np.float32))
    transport = InMemoryTransport([Synthetic(i) for i in range(n)])
    return [run_round(state, stages, transport).seconds for _ in range(rounds)]


# --- server process ------------------------------------------------------------

def rss_mb(field: str = "VmRSS") -> float:
    """From /proc: ``ru_maxrss`` would report the pre-exec parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def serve(args) -> None:
    from fedshield.net.auth import Authenticator
    from fedshield.net.coordinator import Coordinator
    from fedshield.net.interceptors import AccessInterceptor
    from fedshield.net.service import FedShieldService, build_server, limit_malloc_arenas, server_credentials
    from fedshield.net.streaming import StreamingMean
    from fedshield.net.transport import GrpcTransport
    from fedshield.rbac.policy import load_policy

    limit_malloc_arenas()  # as `fedshield server` does
    root, n, d = Path(args.pki), args.sites, args.params
    ids = [site_id(i) for i in range(n)]
    reducer = StreamingMean(d)
    coord = Coordinator(run_id=RUN_ID, scenario_sha256="-", num_params=d, expected_sites=ids, reducer=reducer)
    auth = Authenticator(ca_cert=root / "ca.crt", crl=root / "crl.pem", admins=root / "admins.json",
                         registry=root / "registry.jsonl")
    inter = AccessInterceptor(auth, load_policy(None), rate_per_s=1000, burst=2000)
    svc = FedShieldService(coord, chunk_limit=1 << 20, max_inflight_updates=8)
    creds = server_credentials(ca_cert=(root / "ca.crt").read_bytes(), cert=(root / "issued/server.crt").read_bytes(),
                               key=(root / "issued/server.key").read_bytes())
    server, port = build_server(svc, inter, address="127.0.0.1:0", creds=creds, max_message_bytes=4 * d + (1 << 20),
                                max_workers=n + 16)
    server.start()
    print(f"PORT {port}", flush=True)
    transport = GrpcTransport(coord, round_timeout_s=300, dead_after_s=120)
    joined = coord.wait_for_sites(n, 300)
    # The engine's own round, with the streaming collector: what `fedshield server` runs.
    from fedshield.net.streaming import StreamingMeanCollector
    from fedshield.server.engine import RoundStages, ServerState, run_round
    from fedshield.server.optimizers import FedAvg
    from fedshield.server.sampling import UniformSampler

    stages = RoundStages(sampler=UniformSampler(), screener=_Passthrough(), aggregator=_mean,
                         server_optimizer=FedAvg(), collector=StreamingMeanCollector(reducer))
    state = ServerState(RUN_ID, np.zeros(d, np.float32))
    print(f"server RSS after imports and joins (torch included): {rss_mb():.1f} MB", file=sys.stderr, flush=True)
    round_s, rss = [], []
    for _ in range(args.rounds):
        rec = run_round(state, stages, transport)
        round_s.append(rec.seconds)
        rss.append(round(rss_mb(), 1))
        ok = len(rec.participants)
        print(f"round {rec.round_num}: {ok}/{n} updates in {rec.seconds:.2f} s, rss {rss[-1]} MB", file=sys.stderr,
              flush=True)
    coord.finish()
    coord.wait_all_stopped(30)
    server.stop(grace=1).wait(5)
    peak = rss_mb("VmHWM")
    print("RESULT " + json.dumps({"round_s": round_s, "rss_by_round_mb": rss, "peak_rss_mb": peak,
                                  "joined": len(joined), "updates": ok}), flush=True)


# --- load generator --------------------------------------------------------------

def load(args) -> None:
    import grpc

    from fedshield.net import fedshield_pb2 as pb
    from fedshield.net import fedshield_pb2_grpc as pb_grpc
    from fedshield.net.client import channel, fetch_task, load_key, signed_update, update_stream

    root, d = Path(args.pki), args.params
    lo, hi = (int(x) for x in args.ids.split(":"))
    errors: list[str] = []

    def one(i: int) -> None:
        sid = site_id(i)
        ca = (root / "ca.crt").read_bytes()
        cert, keyb = (root / f"issued/{sid}.crt").read_bytes(), (root / f"issued/{sid}.key").read_bytes()
        ch = channel(f"127.0.0.1:{args.port}", ca_cert=ca, cert=cert, key=keyb, max_message_bytes=4 * d + (1 << 20))
        stub, key, delta = pb_grpc.FedShieldStub(ch), load_key(root / f"issued/{sid}.key"), site_delta(i, d)
        deadline = time.monotonic() + 900
        try:
            stub.Join(pb.Empty(), timeout=120, wait_for_ready=True)
            while time.monotonic() < deadline:
                task = fetch_task(stub, wait_s=20, timeout=300)
                if task.kind == pb.Task.STOP:
                    return
                if task.kind == pb.Task.FIT:
                    header, data = signed_update(key, identity=sid, task=task, delta=delta, num_examples=100,
                                                 metrics={})
                    stub.SubmitUpdate(update_stream(header, data, 1 << 20), timeout=300)
        except grpc.RpcError as exc:
            errors.append(f"{sid}: {exc.code().name} {exc.details()}")
        finally:
            ch.close()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(lo, hi)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(960)
    if errors:
        print("\n".join(errors), file=sys.stderr)
        sys.exit(1)


# --- driver ----------------------------------------------------------------------

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sites", type=int, default=50)
    ap.add_argument("--params", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--procs", type=int, default=4, help="load-generator processes")
    ap.add_argument("--quick", action="store_true", help="8 sites, 100k params, 2 rounds")
    ap.add_argument("--role", choices=["driver", "server", "load"], default="driver", help=argparse.SUPPRESS)
    ap.add_argument("--pki", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--ids", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.quick:
        args.sites, args.params, args.rounds, args.procs = 8, 100_000, 2, 2
    if args.role == "server":
        return serve(args)
    if args.role == "load":
        return load(args)

    env = {**os.environ, "GRPC_VERBOSITY": "ERROR", "OMP_NUM_THREADS": "1"}
    me = [sys.executable, __file__, "--sites", str(args.sites), "--params", str(args.params),
          "--rounds", str(args.rounds)]
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        make_pki(Path(tmp), args.sites)
        print(f"PKI for {args.sites} sites in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        mem = memory_rounds(args.sites, args.params, args.rounds)
        print(f"in-memory rounds: {[round(s, 3) for s in mem]}", file=sys.stderr)
        server = subprocess.Popen(me + ["--role", "server", "--pki", tmp], stdout=subprocess.PIPE, text=True, env=env)
        procs = [server]
        try:
            port = int(server.stdout.readline().split()[1])
            bounds = np.linspace(0, args.sites, args.procs + 1).astype(int)
            for lo, hi in zip(bounds[:-1], bounds[1:]):
                procs.append(subprocess.Popen(me + ["--role", "load", "--pki", tmp, "--port", str(port),
                                                    "--ids", f"{lo}:{hi}"], env=env))
            out, _ = server.communicate(timeout=1200)
            for p in procs[1:]:
                p.wait(timeout=120)
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait(10)
        res = json.loads(next(line for line in out.splitlines() if line.startswith("RESULT "))[7:])
    bad = [p.returncode for p in procs[1:] if p.returncode != 0]
    if bad or res["updates"] != args.sites:
        sys.exit(f"error: load generators exited {bad}; {res['updates']} of {args.sites} updates counted")
    net = res["round_s"]
    print(f"network rounds: {[round(s, 3) for s in net]}; RSS by round (MB): {res['rss_by_round_mb']}",
          file=sys.stderr)
    headline({
        "round_overhead_over_memory": round(statistics.median(net) / statistics.median(mem), 2),
        "throughput_mb_s": round(args.sites * 4 * args.params * len(net) / sum(net) / 1e6, 1),
        "server_peak_rss_mb": round(res["peak_rss_mb"], 1),
        "sites": args.sites,
        "params": args.params,
    })


if __name__ == "__main__":
    main()
