"""Launch a real server and real site processes on loopback (helpers for the
end-to-end and fault tests). Every process has a bounded lifetime."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from .conftest import HEART_SITES, Consortium

PY = sys.executable
REPO = Path(__file__).resolve().parents[2]
BOOT = "import sys; from fedshield.net.__main__ import main; sys.exit(main())"


def scenario_file(root: Path, data_dir: Path, *, rounds: int = 2, local_steps: int = 20) -> Path:
    p = root / "scenario.toml"
    p.write_text(f"""name = "heart-net"\nseed = 42\nrounds = {rounds}\n[data]\ndataset = "heart-disease"
data_dir = "{data_dir}"\n[model]\nname = "logistic"\n[client]\nlocal_steps = {local_steps}\nbatch_size = 4
learning_rate = 0.01\n[server]\noptimizer = "fedadam"\nlearning_rate = 0.05\n""")
    return p


def server_file(root: Path, con: Consortium, scenario: Path, *, port: int = 0, **extra) -> Path:
    opts = {"round_timeout_s": 60, "eval_timeout_s": 60, "dead_after_s": 8, "join_timeout_s": 60, **extra}
    lines = "\n".join(f"{k} = {json.dumps(v)}" for k, v in opts.items())
    p = root / "server.toml"
    p.write_text(f"""[server]\naddress = "127.0.0.1:{port}"\nscenario = "{scenario}"\nsites = {json.dumps(HEART_SITES)}
input_shape = [13]\nstate_dir = "{root / 'state'}"\n{lines}
[tls]\nca_cert = "{con.dir / 'ca.crt'}"\ncert = "{con.dir / 'issued/server.crt'}"\nkey = "{con.dir / 'issued/server.key'}"
[consortium]\ncrl = "{con.dir / 'crl.pem'}"\nadmins = "{con.dir / 'admins.json'}"\nregistry = "{con.dir / 'registry.jsonl'}"
""")
    return p


def site_file(root: Path, con: Consortium, scenario: Path, site: str, port: int, give_up_s: float = 40) -> Path:
    p = root / f"{site}.toml"
    p.write_text(f"""[site]\nid = "{site}"\nserver = "127.0.0.1:{port}"\nscenario = "{scenario}"\npoll_s = 2
give_up_s = {give_up_s}\nbackoff_base_s = 0.1\nbackoff_max_s = 1.0
[tls]\nca_cert = "{con.dir / 'ca.crt'}"\ncert = "{con.dir / f'issued/{site}.crt'}"\nkey = "{con.dir / f'issued/{site}.key'}"
""")
    return p


def _env() -> dict:
    env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1", GRPC_VERBOSITY="ERROR")
    env.pop("FEDSHIELD_DATA_DIR", None)
    return env


def start_server(cfg: Path, log: Path, **env) -> tuple[subprocess.Popen, int]:
    fh = open(log, "a")
    proc = subprocess.Popen([PY, "-c", BOOT, "server", "--config", str(cfg), "--verbose"],
                            stdout=subprocess.PIPE, stderr=fh, text=True, env={**_env(), **env})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        m = re.match(r"listening on port (\d+)", line or "")
        if m:
            return proc, int(m.group(1))
        if proc.poll() is not None:
            break
    proc.kill()
    raise RuntimeError(f"server did not start: {log.read_text()[-2000:]}")


def start_site(cfg: Path, log: Path) -> subprocess.Popen:
    return subprocess.Popen([PY, "-c", BOOT, "client", "--config", str(cfg), "--verbose"],
                            stdout=open(log, "w"), stderr=subprocess.STDOUT, text=True, env=_env())


def stop_all(procs) -> None:
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait(10)


def _append(path: Path, text: str) -> Path:
    path.write_text(path.read_text() + text)
    return path


def run_deployment(root: Path, con: Consortium, scenario: Path, *, timeout_s: float, server_toml: str = "",
                   site_toml=lambda site: "") -> None:
    """One server and the four heart-disease site processes, to completion (state in root/state);
    ``server_toml`` / ``site_toml(site)`` add sections to their config files."""
    server, port = start_server(_append(server_file(root, con, scenario), server_toml), root / "server.log")
    procs = [server]
    try:
        for s in HEART_SITES:
            procs.append(start_site(_append(site_file(root, con, scenario, s, port), site_toml(s)), root / f"{s}.log"))
        assert server.wait(timeout=timeout_s) == 0, (root / "server.log").read_text()[-3000:]
        for p in procs[1:]:
            assert p.wait(timeout=30) == 0
    finally:
        stop_all(procs)
