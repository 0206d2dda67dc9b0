"""The gRPC servicer: thin, because checks live in the interceptor (who may
call) and the coordinator (what counts). It reads identity only from the
verified certificate, and enforces size limits while a stream is still
arriving so an oversized upload is cut off rather than buffered."""

from __future__ import annotations

import logging
import threading

import grpc

from fedshield.errors import FedShieldError, TransportError, VerificationError
from fedshield.net import fedshield_pb2 as pb
from fedshield.net import fedshield_pb2_grpc as pb_grpc
from fedshield.net.auth import current_identity
from fedshield.net.coordinator import Coordinator
from fedshield.net.interceptors import status_of

log = logging.getLogger("fedshield.net.service")
_KINDS = {"wait": pb.Task.WAIT, "fit": pb.Task.FIT, "evaluate": pb.Task.EVALUATE, "stop": pb.Task.STOP,
          "stage": pb.Task.STAGE}
SITE_INFO_KEY = "fedshield-site-info"  # Join metadata: JSON of public facts (e.g. num_records)
MAX_SITE_INFO = 4096


def site_info_of(context) -> dict:
    """The site's Join report (call metadata, so Join stays ``Empty``); authenticated by the mTLS
    connection it arrives on, and only public facts: the record count and the DP it applies."""
    import json

    raw = dict(context.invocation_metadata() or ()).get(SITE_INFO_KEY)
    if raw is None:
        return {}
    if len(raw) > MAX_SITE_INFO:
        raise VerificationError(f"The site's Join report exceeds {MAX_SITE_INFO} bytes; refused.")
    try:
        info = json.loads(raw)
    except ValueError:
        raise VerificationError("The site's Join report is not JSON; refused.") from None
    n = info.get("num_records") if isinstance(info, dict) else None
    if not isinstance(info, dict) or (n is not None and (not isinstance(n, int) or isinstance(n, bool) or n < 1)):
        raise VerificationError("The site's Join report must be a JSON object with num_records an int >= 1.")
    return info


def _refuse(context, exc: FedShieldError, what: str):
    log.warning("refused %s: %s: %s", what, type(exc).__name__, exc)
    context.abort(status_of(exc), f"{type(exc).__name__}: {exc}")


class FedShieldService(pb_grpc.FedShieldServicer):
    def __init__(self, coordinator: Coordinator, *, chunk_limit: int = 1 << 20, on_stop=None,
                 max_inflight_updates: int = 8):
        self.c = coordinator
        self.chunk_limit = chunk_limit
        # Bounds the updates buffered at once (each is held until its signature
        # verifies): memory stays O(max_inflight * d) whatever the site count.
        self._inflight = threading.BoundedSemaphore(max_inflight_updates)
        self._downloads = threading.BoundedSemaphore(max_inflight_updates)
        self.on_stop = on_stop
        self.start_event = None

    def Join(self, request, context):
        ident = current_identity()
        try:
            self.c.join(ident, site_info_of(context))
        except FedShieldError as exc:
            _refuse(context, exc, "join")
        return pb.JoinReply(run_id=self.c.run_id, scenario_sha256=self.c.scenario_sha256, identity=ident.subject_id)

    def FetchTask(self, request, context):
        ident = current_identity()  # read now: the returned generator runs after the interceptor's scope
        remaining = context.time_remaining()
        wait = min(request.wait_s, (remaining - 1.0) if remaining is not None else request.wait_s)
        try:
            kind, task = self.c.fetch(ident.subject_id, wait)
        except FedShieldError as exc:
            _refuse(context, exc, "fetch")
        if task is None:
            return iter([pb.Task(kind=_KINDS[kind], run_id=self.c.run_id)])
        return self._stream_task(kind, task)

    def _stream_task(self, kind, task):
        yield pb.Task(kind=_KINDS[kind], run_id=self.c.run_id, round=task.round_num, nonce=task.nonce,
                      model_sha256=task.model_sha256, config_json=task.config_json,
                      # a stage message is bytes, not float32s: its length in bytes
                      num_params=len(task.payload) if kind == "stage" else len(task.payload) // 4)
        if not self._downloads.acquire(timeout=120):
            raise TransportError("No download slot freed up within 120 s; the site will retry.")
        try:
            view = memoryview(task.payload)
            for i in range(0, len(view), self.chunk_limit):
                yield pb.Task(parameters=bytes(view[i:i + self.chunk_limit]))
        finally:
            self._downloads.release()

    def SubmitUpdate(self, request_iterator, context):
        ident = current_identity()
        if not self._inflight.acquire(timeout=60):
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "TransportError: the server is busy; retry later.")
        try:
            return self._submit_update(ident, request_iterator, context)
        finally:
            self._inflight.release()

    def _submit_update(self, ident, request_iterator, context):
        try:
            header, data = None, bytearray()
            for chunk in request_iterator:
                part = chunk.WhichOneof("part")
                if part == "header":
                    if header is not None:
                        raise VerificationError("The update stream has two headers; send exactly one, first.")
                    header = chunk.header
                    limit = self.c.check_fit_header(ident, header)
                elif part == "data":
                    if header is None:
                        raise VerificationError("The update stream must start with its header.")
                    if len(chunk.data) > self.chunk_limit:
                        raise VerificationError(f"An update chunk of {len(chunk.data)} bytes exceeds the "
                                                f"{self.chunk_limit}-byte chunk cap; send smaller chunks.")
                    if len(data) + len(chunk.data) > limit:
                        raise VerificationError(f"The update exceeds the model size of {limit} bytes; refused.")
                    data += chunk.data
                else:
                    raise VerificationError("An empty update chunk was sent; refused.")
            if header is None:
                raise VerificationError("The update stream carried no header.")
            self.c.accept_fit(ident, header, data)
        except FedShieldError as exc:
            _refuse(context, exc, f"update from {ident.subject_id}")
        return pb.Ack(accepted=True, detail=f"update for round {header.round} counted")

    def SubmitEval(self, request, context):
        ident = current_identity()
        try:
            self.c.accept_eval(ident, request)
        except FedShieldError as exc:
            _refuse(context, exc, f"evaluation from {ident.subject_id}")
        return pb.Ack(accepted=True, detail=f"evaluation for round {request.round} counted")

    def Heartbeat(self, request, context):
        self.c.seen(current_identity().subject_id)
        return pb.Ack(accepted=True, detail=self.c.state)

    def Start(self, request, context):
        if self.start_event is not None:
            self.start_event.set()
        return pb.Ack(accepted=True, detail="start requested")

    def Stop(self, request, context):
        if self.on_stop is not None:
            self.on_stop()
        return pb.Ack(accepted=True, detail="the run stops after the current round")

    def Status(self, request, context):
        return pb.StatusReply(state=self.c.state, round=self.c.round_num, joined=self.c.joined(),
                              run_id=self.c.run_id, model_sha256=self.c.model_sha256)


def limit_malloc_arenas(arenas: int = 2) -> None:
    """glibc gives each busy thread its own malloc arena; with dozens of gRPC
    worker threads moving megabyte buffers, freed memory fragments across them
    and RSS doubles. Capping arenas keeps the server's footprint flat."""
    import ctypes
    import ctypes.util
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt(-8, arenas)  # M_ARENA_MAX
    except (OSError, AttributeError):
        pass


def server_credentials(*, ca_cert: bytes, cert: bytes, key: bytes) -> grpc.ServerCredentials:
    """Mutual TLS is not optional: no client certificate, no call."""
    return grpc.ssl_server_credentials([(key, cert)], root_certificates=ca_cert, require_client_auth=True)


def build_server(service: FedShieldService, interceptor, *, address: str, creds: grpc.ServerCredentials,
                 max_message_bytes: int, max_workers: int = 16) -> tuple[grpc.Server, int]:
    from concurrent.futures import ThreadPoolExecutor

    host = address.rsplit(":", 1)[0]
    if host not in ("127.0.0.1", "localhost", "[::1]") and not host.replace(".", "").isdigit():
        log.info("binding %s", address)
    server = grpc.server(ThreadPoolExecutor(max_workers=max_workers), interceptors=[interceptor], options=[
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.max_concurrent_streams", 256),
        ("grpc.http2.bdp_probe", 0),
    ], maximum_concurrent_rpcs=max_workers * 8)
    pb_grpc.add_FedShieldServicer_to_server(service, server)
    port = server.add_secure_port(address, creds)
    if port == 0:
        from fedshield.errors import TransportError
        raise TransportError(f"Cannot bind {address!r}; pick a free port (or :0 for any).")
    return server, port
