"""``fedshield server``: the coordinator process.

It builds the round stages with the same helpers as the simulation and runs
the same ``run_round`` through ``GrpcTransport``; only the transport differs,
so robust aggregation, screening, DP and SecAgg behave as in simulation.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from fedshield.config import Scenario, load_scenario
from fedshield.errors import ConfigError, PrivacyBudgetExceeded, ProtocolError
from fedshield.net import checkpoint
from fedshield.net.auth import Authenticator
from fedshield.net.config import ServerFile
from fedshield.net.coordinator import Coordinator
from fedshield.net.interceptors import AccessInterceptor
from fedshield.net.service import FedShieldService, build_server, limit_malloc_arenas, server_credentials
from fedshield.net.transport import GrpcTransport
from fedshield.rbac.policy import load_policy

log = logging.getLogger("fedshield.net.server")


def scenario_of(cfg: ServerFile) -> Scenario:
    sc = load_scenario(cfg.server.scenario, overrides={"rounds": cfg.server.rounds})
    if cfg.server.data_dir is not None:
        sc = sc.model_copy(update={"data": sc.data.model_copy(update={"data_dir": cfg.server.data_dir})})
    return sc


def scenario_sha256(scenario: Scenario) -> str:
    return hashlib.sha256(scenario.to_json().encode()).hexdigest()


def _model_meta(cfg: ServerFile, scenario: Scenario) -> tuple[tuple[int, ...], Any]:
    """The server needs the model's shape, not the sites' data: read it from
    the config; only pilots (no ``input_shape``) or a central test split make
    the server load its local copy of the dataset."""
    if cfg.server.input_shape and not cfg.server.central_test:
        return tuple(cfg.server.input_shape), None
    from fedshield.data import load_dataset

    d = scenario.data
    ds = load_dataset(d.dataset, data_dir=d.data_dir, num_sites=d.num_sites, alpha=d.alpha, seed=scenario.seed)
    return tuple(ds.input_shape), (ds.pooled_test if cfg.server.central_test else None)


@dataclass
class ServerRun:
    coordinator: Coordinator
    history: list[dict[str, Any]]
    stopped_early: str | None
    port: int


def build_stages(scenario: Scenario, transport, model_factory, sinks=(), central_test=None):
    """The simulation's stages, with the network transport behind the evaluator.

    DP and SecAgg+ need stages on the sites as well (DP-SGD, distributed noise,
    the masking rounds); until the site process builds them, a scenario that
    asks for them is refused here rather than run without them (fail closed).
    """
    from fedshield import simulation
    from fedshield.server.evaluation import FederatedEvaluator

    if scenario.privacy.mode != "off":
        raise ConfigError(
            f"privacy.mode = {scenario.privacy.mode!r} is not yet supported by 'fedshield server' (the sites' "
            "DP-SGD and budget gate run only in 'fedshield simulate'). Set privacy.mode = 'off' for a networked "
            "run, or run the scenario with 'fedshield simulate'.")
    if scenario.secure_aggregation.enabled:
        raise ConfigError(
            "secure_aggregation.enabled = true is not yet supported by 'fedshield server' (the SecAgg+ stages "
            "run only in 'fedshield simulate'). Set it to false for a networked run, or use 'fedshield simulate'.")
    stages = simulation.build_stages(scenario, sinks=sinks)
    stages.evaluator = FederatedEvaluator(transport=transport, model_factory=model_factory, central_test=central_test)
    return stages


def _stream(scenario: Scenario, coord: Coordinator, stages) -> None:
    from fedshield.net.streaming import StreamingMean, StreamingMeanCollector
    StreamingMeanCollector.check_scenario(scenario)
    coord.reducer = StreamingMean(coord.num_params)
    stages.collector = StreamingMeanCollector(coord.reducer)


def serve(cfg: ServerFile, *, on_port=None) -> ServerRun:
    import torch

    from fedshield.models import create_model
    from fedshield.models.params import get_flat_params
    from fedshield.server.engine import ServerState, run_round
    from fedshield.simulation import run_id_for

    torch.set_num_threads(1)
    limit_malloc_arenas()
    s = cfg.server
    scenario = scenario_of(cfg)
    run_id = run_id_for(scenario)
    input_shape, central_test = _model_meta(cfg, scenario)
    model_factory = partial(create_model, scenario.model.name, input_shape=input_shape,
                            seed=scenario.seed, **scenario.model.params)
    state = ServerState(run_id=run_id, parameters=get_flat_params(model_factory()))
    state_dir = Path(s.state_dir)
    sinks: list[Any] = []
    if cfg.ledger is not None:
        from fedshield.ledger.sink import AuditSink

        sinks.append(AuditSink.open(cfg.ledger.path, signing_key=cfg.ledger.signing_key))
    coord = Coordinator(run_id=run_id, scenario_sha256=scenario_sha256(scenario),
                        num_params=int(state.parameters.shape[0]), expected_sites=list(s.sites),
                        journal_dir=state_dir / "journal", crash_after=_fault_drill())
    transport = GrpcTransport(coord, round_timeout_s=s.round_timeout_s, eval_timeout_s=s.eval_timeout_s,
                              dead_after_s=s.dead_after_s)
    stages = build_stages(scenario, transport, model_factory, sinks, central_test)
    if s.stream_aggregate:
        _stream(scenario, coord, stages)
    history: list[dict[str, Any]] = []
    ckpt = checkpoint.load(state_dir, run_id)
    if ckpt is not None:
        state.parameters, state.round_num, history = ckpt["parameters"], ckpt["round"], ckpt["history"]
        stages.server_optimizer.load_state_dict(ckpt["optimizer"])
        log.info("resumed run %s after round %d from %s", run_id, state.round_num, state_dir)

    auth = Authenticator(ca_cert=cfg.tls.ca_cert, crl=cfg.consortium.crl, admins=cfg.consortium.admins,
                         registry=cfg.consortium.registry)
    interceptor = AccessInterceptor(auth, load_policy(cfg.rbac.get("policy")), sink=sinks[0] if sinks else None,
                                    rate_per_s=s.rate_per_s, burst=2 * s.rate_per_s)
    stop = threading.Event()
    service = FedShieldService(coord, chunk_limit=s.chunk_bytes, on_stop=stop.set)
    service.start_event = threading.Event()
    if s.autostart:
        service.start_event.set()
    creds = server_credentials(ca_cert=Path(cfg.tls.ca_cert).read_bytes(), cert=Path(cfg.tls.cert).read_bytes(),
                               key=Path(cfg.tls.key).read_bytes())
    server, port = build_server(service, interceptor, address=s.address, creds=creds,
                                max_message_bytes=s.max_message_mb << 20, max_workers=len(s.sites) + 16)
    server.start()
    log.info("serving run %s on port %d (mTLS)", run_id, port)
    if on_port is not None:
        on_port(port)
    stopped: str | None = None
    try:
        need = s.min_sites or len(s.sites)
        joined = coord.wait_for_sites(need, s.join_timeout_s)
        if len(joined) < need:
            raise ProtocolError(f"Only {joined} joined within {s.join_timeout_s:.0f} s; {need} needed. "
                                "Check the sites' certificates, enrollment and server address.")
        if not service.start_event.wait(s.join_timeout_s):
            raise ProtocolError("No coordinator called Start in time; the run did not begin.")
        coord.state = "running"
        while state.round_num < scenario.rounds and not stop.is_set():
            try:
                record = run_round(state, stages, transport)
            except (ProtocolError, PrivacyBudgetExceeded) as exc:
                stopped = str(exc)
                log.error("run stopped: %s", exc)
                break
            history.append(record.to_dict())
            checkpoint.save(state_dir, run_id=run_id, round_num=state.round_num, parameters=state.parameters,
                            optimizer=stages.server_optimizer.state_dict(), history=history)
            coord.clear_journal()
            log.info("round %d done in %.2f s (%d participants)", record.round_num, record.seconds,
                     len(record.participants))
        coord.finish("done" if stopped is None else "stopped")
        coord.wait_all_stopped(timeout_s=min(10.0, s.dead_after_s))
        _write_outputs(state_dir, history, state.parameters, stopped)
    finally:
        coord.finish(coord.state if coord.state in ("done", "stopped") else "stopped")
        server.stop(grace=2.0).wait(5.0)
    return ServerRun(coord, history, stopped, port)


def _write_outputs(state_dir: Path, history, parameters: np.ndarray, stopped: str | None) -> None:
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / "metrics.json").write_text(json.dumps({"history": history, "stopped_early": stopped},
                                                       indent=1, default=str))
    np.save(state_dir / "final_parameters.npy", parameters, allow_pickle=False)


def _fault_drill() -> tuple[int, int] | None:
    raw = os.environ.get("FEDSHIELD_FAULT_CRASH_AFTER")
    if not raw:
        return None
    try:
        rnd, n = (int(x) for x in raw.split(":"))
    except ValueError:
        raise ConfigError(f"FEDSHIELD_FAULT_CRASH_AFTER must be 'round:n', e.g. '2:2'; got {raw!r}.") from None
    return rnd, n


def validate_server(cfg: ServerFile) -> None:
    if cfg.server.min_sites is not None and cfg.server.min_sites > len(cfg.server.sites):
        raise ConfigError(f"min_sites={cfg.server.min_sites} exceeds the {len(cfg.server.sites)} listed sites.")
