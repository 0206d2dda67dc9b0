"""``fedshield server``: the coordinator process.

It builds the round stages with the same helpers as the simulation and runs
the same ``run_round`` through ``GrpcTransport``; only the transport differs,
so robust aggregation, screening, DP and SecAgg behave as in simulation:
``SecureCollector`` (SecAgg+) and ``HeCollector`` (CKKS) drive their stages through
``GrpcTransport.exchange``,
the sites run DP-SGD or add their share of the noise themselves, and the server
installs the budget gate and DP-FedAvg from the same privacy plan.
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
from fedshield.net.config import ServerFile, read_key_file
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


def build_stages(scenario: Scenario, transport, model_factory, sinks=(), central_test=None, ckks_public=None):
    """The simulation's stages (``SecureCollector`` or ``HeCollector`` when secure aggregation is on: they
    drive their stages through ``GrpcTransport.exchange``), with the network transport behind the evaluator.

    The server's half of DP (budget gate, DP-FedAvg) is installed by ``NetworkPrivacy`` once the
    sites have reported their record counts; the sites install their half themselves
    (``simulation.build_network_site``)."""
    from fedshield import simulation
    from fedshield.server.evaluation import FederatedEvaluator

    stages = simulation.build_stages(scenario, sinks=sinks, ckks_public=ckks_public)
    stages.evaluator = FederatedEvaluator(transport=transport, model_factory=model_factory, central_test=central_test)
    return stages


def load_ckks_public(cfg: ServerFile, scenario: Scenario):
    """The consortium's public CKKS key, verified against the CA (protocol 'ckks' only; else None)."""
    if not scenario.secure_aggregation.uses_ckks:
        return None
    if cfg.he is None:
        raise ConfigError("The scenario uses secure_aggregation.protocol = 'ckks', so server.toml needs "
                          "[he] public_key = \"public.ckks.json\": the public half that a site's key steward "
                          "wrote with `fedshield he-keys` (the server must never hold the secret key).")
    from fedshield.he.ckks import CkksPublicKey
    from fedshield.he.keyshare import PublicKeyBundle, verify_public_bundle
    from fedshield.pki.identity import load_certificate

    bundle = PublicKeyBundle.from_json(read_key_file(cfg.he.public_key, section="[he] public_key",
                                                     fix="copy the key steward's public.ckks.json there."))
    verify_public_bundle(bundle, ca_cert=load_certificate(cfg.tls.ca_cert))
    return CkksPublicKey(bundle.context, bundle.params, bundle.key_id)


class NetworkPrivacy:
    """The server's half of the scenario's DP plan (``fedshield.privacy.attach``), over the network.

    The plan is the simulation's: client mode needs only the scenario and the
    site list; sample mode also each site's record count, which the site reports
    at Join (public metadata, authenticated by its mTLS connection; a site that
    misreports only mis-states its own budget, which its own DP-SGD trainer
    enforces anyway). Each site also reports the DP it applies, and a site whose
    mechanism differs from the plan (another scenario, another site list) is
    refused at Join, so the server's accounting always describes what the sites do.
    """

    def __init__(self, scenario: Scenario, site_ids: list[str], model_factory):
        from fedshield.privacy.attach import validate_privacy
        from fedshield.simulation import train_config_of

        self.scenario, self.site_ids, self.model_factory = scenario, list(site_ids), model_factory
        self.mode = validate_privacy(scenario.privacy).mode
        self.train_config = train_config_of(scenario)
        self.client_plan = self._plan({sid: None for sid in site_ids}) if self.mode == "client" else None
        if self.mode == "sample":
            from fedshield.privacy.sample_dp import check_model_supported

            check_model_supported(model_factory())

    def _plan(self, records: dict[str, int | None]):
        import warnings

        from fedshield.privacy.attach import SiteFacts, plan_privacy

        with warnings.catch_warnings():  # the full plan (attach) reports them once
            warnings.simplefilter("ignore")
            return plan_privacy(self.scenario, [SiteFacts(sid, n, self.train_config) for sid, n in records.items()])

    def check_join(self, site_id: str, info: dict[str, Any]) -> None:
        from fedshield.privacy.attach import expected_mechanism, same_mechanism

        if self.mode == "off":
            plan = None
        elif self.mode == "client":
            plan = self.client_plan
        else:
            n = info.get("num_records")
            if not isinstance(n, int) or n < 1:
                raise ProtocolError(f"{site_id!r} did not report its record count at Join; privacy.mode = 'sample' "
                                    "needs it to mirror the site's budget. Run a fedshield client of this version.")
            try:
                plan = self._plan({site_id: n})
            except ConfigError as exc:
                raise ProtocolError(f"{site_id!r} cannot be accounted: {exc}") from None
        want, got = expected_mechanism(plan, site_id), info.get("privacy")
        if not same_mechanism(want, got):
            raise ProtocolError(
                f"{site_id!r} applies differential privacy {got} but this run's plan gives it {want}; the site "
                "and the server must use the same scenario and the same list of sites. Fix the site's scenario "
                "(or the server's `sites`) and restart the site.")

    def attach(self, stages, site_info: dict[str, dict[str, Any]], history: list[dict[str, Any]]):
        """Install the gate (and DP-FedAvg) for the sites that joined; replay the accounting of rounds
        already run (a resumed run) so the gate's spend continues where it stopped."""
        from fedshield.privacy.attach import SiteFacts, attach_server_privacy, plan_privacy

        if self.mode == "off":
            return None
        if self.mode == "sample":
            records = {sid: site_info[sid]["num_records"] for sid in self.site_ids if sid in site_info}
            plan = plan_privacy(self.scenario, [SiteFacts(sid, n, self.train_config) for sid, n in records.items()])
        else:
            plan = plan_privacy(self.scenario, [SiteFacts(sid, None, self.train_config) for sid in self.site_ids])
        gate = attach_server_privacy(stages, plan, remote_sites=True)
        for rec in history:
            gate.admit(list(rec["sampled"]), rec["round_num"])
            gate.account(list(rec["participants"]), rec["round_num"])
        return gate


def _stream(scenario: Scenario, coord: Coordinator, stages) -> None:
    from fedshield.net.streaming import StreamingMean, StreamingMeanCollector
    if scenario.secure_aggregation.enabled:
        raise ConfigError("stream_aggregate = true replaces the round's collector, so it cannot run with "
                          "secure_aggregation.enabled = true (which already sends the server only sums). Set "
                          "stream_aggregate = false.")
    if scenario.privacy.mode == "client":
        raise ConfigError("stream_aggregate = true hands the aggregator one streamed mean, but privacy.mode = "
                          "'client' must clip every site's update before averaging. Set stream_aggregate = false.")
    StreamingMeanCollector.check_scenario(scenario)
    coord.reducer = StreamingMean(coord.num_params)
    stages.collector = StreamingMeanCollector(coord.reducer)


def serve(cfg: ServerFile, *, on_port=None) -> ServerRun:
    import torch

    from fedshield.models import create_model
    from fedshield.models.params import get_flat_params
    from fedshield.server.engine import ServerState, run_round
    from fedshield.simulation import run_id_for, stage_extras

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
    stages = build_stages(scenario, transport, model_factory, sinks, central_test, load_ckks_public(cfg, scenario))
    if sinks:
        from fedshield.ledger.gossip import HeadPublisher

        # Every task carries the latest signed head and its consistency proofs;
        # sites with an [audit] witness refuse a forked log.
        stages.fit_config = HeadPublisher(sinks[0], stages.fit_config)
    privacy = NetworkPrivacy(scenario, list(s.sites), model_factory)
    coord.check_join = privacy.check_join
    if s.stream_aggregate:
        _stream(scenario, coord, stages)
    history: list[dict[str, Any]] = []
    ckpt = checkpoint.load(state_dir, run_id)
    if ckpt is not None:
        state.parameters, state.round_num, history = ckpt["parameters"], ckpt["round"], ckpt["history"]
        stages.server_optimizer.load_state_dict(ckpt["optimizer"])
        log.info("resumed run %s after round %d from %s", run_id, state.round_num, state_dir)
    elif sinks:
        from fedshield.reports.audit import record_run_config

        # Sealed before round 1, so that the first task already carries a head to witness.
        record_run_config(sinks[0], scenario, run_id, list(s.sites))
        sinks[0].sign_head(round_num=0)

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
        privacy.attach(stages, dict(coord.site_info), history)
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
        _write_outputs(state_dir, history, state.parameters, stopped, stage_extras(stages))
    finally:
        coord.finish(coord.state if coord.state in ("done", "stopped") else "stopped")
        server.stop(grace=2.0).wait(5.0)
    return ServerRun(coord, history, stopped, port)


def _write_outputs(state_dir: Path, history, parameters: np.ndarray, stopped: str | None,
                   extra: dict[str, Any] | None = None) -> None:
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / "metrics.json").write_text(json.dumps({"history": history, "stopped_early": stopped, **(extra or {})},
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
