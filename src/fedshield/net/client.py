"""``fedshield client``: one hospital's process.

It trains with the same ``Site`` object as the simulation (so DP and SecAgg
transforms apply unchanged), signs each answer with its TLS key, and survives
a flaky network or a restarting server by reconnecting with capped
exponential backoff; it gives up after ``give_up_s`` without contact, so it
always ends by itself. Security refusals are never retried: they end the
process with the server's reason (fail closed).
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from pathlib import Path

import grpc
import numpy as np
from cryptography.hazmat.primitives import serialization

from fedshield.errors import ConfigError, FedShieldError, ProtocolError, SecurityError, TransportError
from fedshield.messages import EvaluateIns, FitIns
from fedshield.net import fedshield_pb2 as pb
from fedshield.net import fedshield_pb2_grpc as pb_grpc
from fedshield.net import signing
from fedshield.net.codec import STAGE_REQUESTS, decode_stage, encode_stage, npy_bytes, params_to_bytes
from fedshield.net.config import SiteFile, read_key_file
from fedshield.net.service import SITE_INFO_KEY
from fedshield.server.events import array_sha256

log = logging.getLogger("fedshield.net.client")
RETRY = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.RESOURCE_EXHAUSTED,
         grpc.StatusCode.CANCELLED, grpc.StatusCode.UNKNOWN}
FATAL = {grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED}


def channel(address: str, *, ca_cert: bytes, cert: bytes, key: bytes, max_message_bytes: int = 64 << 20):
    creds = grpc.ssl_channel_credentials(root_certificates=ca_cert, private_key=key, certificate_chain=cert)
    return grpc.secure_channel(address, creds, options=[
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.initial_reconnect_backoff_ms", 200), ("grpc.max_reconnect_backoff_ms", 2000),
    ])


def fetch_task(stub, *, wait_s: float, timeout: float, max_params: int = 1 << 30) -> pb.Task:
    """Reassemble a streamed task (header, then model or stage-message slices)."""
    stream = stub.FetchTask(pb.FetchRequest(wait_s=wait_s), timeout=timeout)
    task = next(stream)
    if task.kind not in (pb.Task.FIT, pb.Task.EVALUATE, pb.Task.STAGE):
        return task
    if not 0 < task.num_params <= max_params:
        raise TransportError(f"The server announced a model of {task.num_params} parameters; refused.")
    size = task.num_params if task.kind == pb.Task.STAGE else 4 * task.num_params  # a stage: bytes
    buf = bytearray()
    for part in stream:
        buf += part.parameters
        if len(buf) > size:
            raise TransportError("The server sent more model bytes than it announced; the task is ignored.")
    task.parameters = bytes(buf)
    return task


def load_key(path: str | Path):
    return serialization.load_pem_private_key(Path(path).read_bytes(), password=None)


def update_stream(header: pb.UpdateHeader, data: bytes, chunk: int):
    yield pb.UpdateChunk(header=header)
    view = memoryview(data)
    for i in range(0, len(view), chunk):
        yield pb.UpdateChunk(data=bytes(view[i:i + chunk]))


def signed_update(key, *, identity: str, task: pb.Task, delta: np.ndarray, num_examples: int,
                  metrics: dict) -> tuple[pb.UpdateHeader, bytes]:
    data = params_to_bytes(delta)
    digest = signing.sha256(data)
    sig = signing.sign(key, signing.payload("update", identity=identity, run_id=task.run_id, round_num=task.round,
                                            model_sha256=task.model_sha256, nonce=task.nonce,
                                            content_sha256=digest, num_examples=num_examples))
    header = pb.UpdateHeader(run_id=task.run_id, round=task.round, model_sha256=task.model_sha256, nonce=task.nonce,
                             update_sha256=digest, num_examples=num_examples, num_params=delta.shape[0],
                             metrics_json=json.dumps(metrics), signature=sig)
    return header, data


def signed_eval(key, *, identity: str, task: pb.Task, res) -> pb.EvalResult:
    labels, scores = npy_bytes(res.labels), npy_bytes(res.scores)
    metrics_json = json.dumps({k: float(v) for k, v in res.metrics.items()})
    content = signing.sha256(labels + b"|" + scores + b"|" + metrics_json.encode())
    sig = signing.sign(key, signing.payload("eval", identity=identity, run_id=task.run_id, round_num=task.round,
                                            model_sha256=task.model_sha256, nonce=task.nonce,
                                            content_sha256=content, num_examples=res.num_examples))
    return pb.EvalResult(run_id=task.run_id, round=task.round, model_sha256=task.model_sha256, nonce=task.nonce,
                         num_examples=res.num_examples, metrics_json=metrics_json, labels_npy=labels,
                         scores_npy=scores, signature=sig)


def signed_stage(key, *, identity: str, task: pb.Task, reply: object) -> tuple[pb.UpdateHeader, bytes]:
    """A stage answer travels like an update: signed over (run, round, the stage message's hash, nonce,
    answer hash) with the TLS key, kind "stage" so it can never pass for an update (or back)."""
    data = encode_stage(reply)
    digest = signing.sha256(data)
    sig = signing.sign(key, signing.payload("stage", identity=identity, run_id=task.run_id, round_num=task.round,
                                            model_sha256=task.model_sha256, nonce=task.nonce,
                                            content_sha256=digest, num_examples=0))
    header = pb.UpdateHeader(run_id=task.run_id, round=task.round, model_sha256=task.model_sha256, nonce=task.nonce,
                             update_sha256=digest, num_examples=0, num_params=len(data), metrics_json="{}",
                             signature=sig)
    return header, data


def site_info(site) -> dict:
    """What the site tells the server at Join: public facts only (its record count, treated as public
    metadata, and the DP it applies, so the server can mirror its budget and refuse a mismatch)."""
    from fedshield.privacy.attach import site_mechanism

    return {"num_records": int(site.data.num_train), "privacy": site_mechanism(site)}


def build_site(cfg: SiteFile):
    """The same site the simulation builds for this site id (DP and SecAgg+ wired the same way)."""
    import torch

    from fedshield.config import load_scenario
    from fedshield.data import load_dataset
    from fedshield.models import create_model
    from fedshield.simulation import build_network_site, run_id_for
    from functools import partial

    torch.set_num_threads(1)
    sc = load_scenario(cfg.site.scenario)
    if cfg.site.data_dir is not None:
        sc = sc.model_copy(update={"data": sc.data.model_copy(update={"data_dir": cfg.site.data_dir})})
    d = sc.data
    ds = load_dataset(d.dataset, data_dir=d.data_dir, num_sites=d.num_sites, alpha=d.alpha, seed=sc.seed)
    ids = [s.site_id for s in ds.sites]
    if cfg.site.id not in ids:
        raise ConfigError(f"Site id {cfg.site.id!r} is not a site of {d.dataset!r}; pick one of {ids}.")
    factory = partial(create_model, sc.model.name, input_shape=ds.input_shape, seed=sc.seed, **sc.model.params)
    wrapper = None
    if cfg.audit is not None:
        from fedshield.ledger import TreeHeadWitness, load_public_key
        from fedshield.ledger.gossip import WitnessedSite

        witness = TreeHeadWitness(public_key=load_public_key(cfg.audit.coordinator_key),
                                  state_path=cfg.audit.witness_state)
        wrapper = lambda site: WitnessedSite(site, witness)  # noqa: E731
    return build_network_site(sc, ds, cfg.site.id, factory, wrapper, ckks_key=open_ckks_key(cfg, sc)), sc, \
        run_id_for(sc)


def open_ckks_key(cfg: SiteFile, scenario):
    """This site's CKKS secret key, unsealed with its TLS key (protocol 'ckks' only; else None)."""
    if not scenario.secure_aggregation.uses_ckks:
        return None
    if cfg.he is None:
        raise ConfigError("The scenario uses secure_aggregation.protocol = 'ckks', so site.toml needs "
                          "[he] sealed_key = \"<site>.ckks-key.json\": this site's secret key, sealed to its "
                          "certificate by the key steward's `fedshield he-keys`.")
    from fedshield.he.keyshare import SealedKey, open_sealed_key
    from fedshield.pki.identity import load_certificate

    sealed = SealedKey.from_json(read_key_file(cfg.he.sealed_key, section="[he] sealed_key",
                                               fix="copy this site's <site>.ckks-key.json from the key steward there."))
    t = cfg.tls
    return open_sealed_key(sealed, site_cert=load_certificate(t.cert), site_key=load_key(t.key),
                           ca_cert=load_certificate(t.ca_cert))


class SiteRunner:
    def __init__(self, cfg: SiteFile, site=None, scenario=None, run_id: str | None = None):
        self.cfg = cfg
        if site is None:
            site, scenario, run_id = build_site(cfg)
        self.site, self.scenario, self.run_id = site, scenario, run_id
        self.key = load_key(cfg.tls.key)
        t = cfg.tls
        self.channel = channel(cfg.site.server, ca_cert=Path(t.ca_cert).read_bytes(), cert=Path(t.cert).read_bytes(),
                               key=Path(t.key).read_bytes(), max_message_bytes=cfg.site.max_message_mb << 20)
        self.stub = pb_grpc.FedShieldStub(self.channel)
        self.rounds_done = 0

    def _heartbeat(self, stop: threading.Event) -> None:
        while not stop.wait(2.0):
            try:
                self.stub.Heartbeat(pb.Empty(), timeout=5)
            except (grpc.RpcError, ValueError):  # ValueError: the channel was closed under us
                pass

    def _do(self, task: pb.Task) -> None:
        if task.kind == pb.Task.STAGE:
            if signing.sha256(task.parameters) != task.model_sha256:
                raise TransportError("The stage message does not match its announced hash; the task is ignored.")
            params = None
        else:
            params = np.frombuffer(task.parameters, dtype="<f4").astype(np.float32)
            if array_sha256(params) != task.model_sha256:
                raise TransportError("The global model does not match its announced hash; the task is ignored.")
        stop = threading.Event()
        beat = threading.Thread(target=self._heartbeat, args=(stop,), daemon=True)
        beat.start()
        try:
            self._answer(task, params)
        except (FedShieldError, ValueError) as exc:
            # The site declines this task (e.g. its privacy budget is spent);
            # the server counts it as a failure, the site stays in the run.
            kind = {pb.Task.FIT: "fit", pb.Task.STAGE: "stage"}.get(task.kind, "evaluate")
            log.warning("declined %s task of round %d: %s: %s", kind, task.round, type(exc).__name__, exc)
        finally:
            stop.set()

    def _stage(self, task: pb.Task) -> None:
        from fedshield.client.secagg_role import SecAggBegin
        from fedshield.he.collect import HeBegin, HeDecryptRequest

        handler = getattr(self.site, "handle_stage", None)
        if handler is None:
            raise ProtocolError("The server sent a stage message but this site's scenario has no multi-stage "
                                "protocol (secure_aggregation.enabled = false); use the consortium's scenario.")
        msg = decode_stage(task.parameters, allowed=STAGE_REQUESTS)
        begins = isinstance(msg, (SecAggBegin, HeBegin))
        if begins or isinstance(msg, HeDecryptRequest):
            run, rnd = (msg.ins.run_id, msg.ins.round_num) if begins else (msg.run_id, msg.round_num)
            if run != task.run_id or rnd != task.round or (self.run_id is not None and run != self.run_id):
                raise ProtocolError(f"The {type(msg).__name__} is for run {run!r} round {rnd}, not the task's run "
                                    f"{task.run_id!r} round {task.round}; refused.")
        header, data = signed_stage(self.key, identity=self.cfg.site.id, task=task, reply=handler(msg))
        self.stub.SubmitUpdate(update_stream(header, data, self.cfg.site.chunk_bytes), timeout=120)
        if begins:
            self.rounds_done += 1

    def _answer(self, task: pb.Task, params: np.ndarray | None) -> None:
        if task.kind == pb.Task.STAGE:
            self._stage(task)
        elif task.kind == pb.Task.FIT:
            cfg = json.loads(task.config_json or "{}")
            res = self.site.fit(FitIns(run_id=task.run_id, round_num=task.round, parameters=params, config=cfg))
            header, data = signed_update(self.key, identity=self.cfg.site.id, task=task, delta=res.delta,
                                         num_examples=res.num_examples, metrics=res.metrics)
            self.stub.SubmitUpdate(update_stream(header, data, self.cfg.site.chunk_bytes), timeout=120)
            self.rounds_done += 1
        else:
            res = self.site.evaluate(EvaluateIns(run_id=task.run_id, round_num=task.round, parameters=params))
            self.stub.SubmitEval(signed_eval(self.key, identity=self.cfg.site.id, task=task, res=res), timeout=60)

    def run(self) -> int:
        s = self.cfg.site
        last_contact, attempt, joined = time.monotonic(), 0, False
        while time.monotonic() - last_contact < s.give_up_s:
            try:
                if not joined:
                    reply = self.stub.Join(pb.Empty(), timeout=10, metadata=[
                        (SITE_INFO_KEY, json.dumps(site_info(self.site), separators=(",", ":")))])
                    if self.run_id is not None and reply.run_id != self.run_id:
                        raise ConfigError(f"The server runs {reply.run_id!r} but this site's scenario gives "
                                          f"{self.run_id!r}; use the consortium's scenario file.")
                    joined = True
                task = fetch_task(self.stub, wait_s=s.poll_s, timeout=s.poll_s + 120)
                last_contact, attempt = time.monotonic(), 0
                if task.kind == pb.Task.STOP:
                    log.info("server says the run is over after %d rounds", self.rounds_done)
                    return 0
                if task.kind in (pb.Task.FIT, pb.Task.EVALUATE, pb.Task.STAGE):
                    self._do(task)
            except grpc.RpcError as exc:
                code = exc.code()
                if code in FATAL:
                    raise SecurityError(f"The server refused this site: {exc.details()}") from None
                if code == grpc.StatusCode.FAILED_PRECONDITION:
                    if not joined:  # e.g. not a participant of this run: retrying cannot help
                        raise TransportError(f"The server refused to let this site join: {exc.details()}") from None
                    log.warning("server: %s", exc.details())
                    joined = "call Join first" not in (exc.details() or "")
                    time.sleep(s.backoff_base_s)
                    continue
                if code not in RETRY:
                    raise TransportError(f"Unexpected answer {code.name}: {exc.details()}") from None
                joined = False
                delay = min(s.backoff_max_s, s.backoff_base_s * 2 ** attempt) * (0.5 + random.random() / 2)
                attempt += 1
                log.info("server unreachable (%s); retry %d in %.2f s", code.name, attempt, delay)
                time.sleep(delay)
        raise TransportError(f"No contact with {s.server} for {s.give_up_s:.0f} s; giving up. Check that the "
                             "server runs and the address is right.")

    def close(self) -> None:
        self.channel.close()
