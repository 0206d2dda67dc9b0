"""Every RPC passes one gate: authenticate -> authorize (RBAC) -> rate-limit.

A server interceptor cannot see the call context, so it wraps each method
handler instead; anything it does not recognise is denied (fail closed). Each
decision is logged and, when an audit sink is given, recorded there too.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import grpc

from fedshield.errors import FedShieldError, SecurityError
from fedshield.net.auth import CURRENT, Authenticator
from fedshield.rbac.policy import Policy

log = logging.getLogger("fedshield.net.access")
SERVICE = "/fedshield.net.FedShield/"


class RateLimiter:
    """Token bucket per identity: a flood from one site cannot starve others."""

    def __init__(self, rate_per_s: float, burst: float):
        self.rate, self.burst = rate_per_s, burst
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}

    def allow(self, key: str) -> bool:
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            ok = tokens >= 1
            self._buckets[key] = (tokens - 1 if ok else tokens, now)
            return ok


def status_of(exc: Exception) -> grpc.StatusCode:
    from fedshield.errors import AuthorizationError, ConfigError, ProtocolError, TransportError, VerificationError

    if isinstance(exc, (AuthorizationError, VerificationError)):
        return grpc.StatusCode.PERMISSION_DENIED
    if isinstance(exc, SecurityError):
        return grpc.StatusCode.UNAUTHENTICATED
    if isinstance(exc, (ProtocolError, TransportError)):
        return grpc.StatusCode.FAILED_PRECONDITION
    if isinstance(exc, (ConfigError, ValueError)):
        return grpc.StatusCode.INVALID_ARGUMENT
    return grpc.StatusCode.INTERNAL


class AccessInterceptor(grpc.ServerInterceptor):
    # Allowed polling calls are logged but not sent to the audit sink: the
    # ledger would fill with heartbeats; every denial and state change goes in.
    QUIET_ALLOWED = frozenset({"Heartbeat", "FetchTask", "Status"})

    def __init__(self, auth: Authenticator, policy: Policy, *, sink: Any = None,
                 rate_per_s: float = 200.0, burst: float = 400.0):
        self.auth, self.policy, self.sink = auth, policy, sink
        self.limiter = RateLimiter(rate_per_s, burst)
        self.decisions: list[dict[str, Any]] = []  # recent decisions, for tests and status
        self._lock = threading.Lock()

    def _record(self, entry: dict[str, Any]) -> None:
        (log.info if entry["allowed"] else log.warning)("access %s", entry)
        with self._lock:
            self.decisions.append(entry)
            del self.decisions[:-1000]
        if self.sink is not None and not (entry["allowed"] and entry["rpc"] in self.QUIET_ALLOWED):
            try:
                self.sink.record("access", {"site": entry["identity"] or "unknown", "role": entry.get("role") or "none",
                                            "rpc": entry["rpc"], "status": "allowed" if entry["allowed"] else "denied",
                                            "reason": entry["reason"]})
            except FedShieldError as exc:  # the ledger refusing an event must not open the gate
                log.error("audit sink refused an access event: %s", exc)

    def _gate(self, rpc: str, context):
        peer = context.peer()
        try:
            ident = self.auth.identify(context)
        except (FedShieldError, ValueError) as exc:
            self._record({"rpc": rpc, "peer": peer, "identity": None, "allowed": False,
                          "reason": f"{type(exc).__name__}: {exc}"})
            context.abort(status_of(exc) if isinstance(exc, FedShieldError) else grpc.StatusCode.UNAUTHENTICATED,
                          f"{type(exc).__name__}: {exc}")
        decision = self.policy.decide(ident.role, rpc)
        entry = {"rpc": rpc, "peer": peer, "identity": ident.subject_id, "role": ident.role,
                 "allowed": decision.allowed, "reason": decision.reason}
        if decision.allowed and not self.limiter.allow(ident.subject_id):
            entry.update(allowed=False, reason="rate limit exceeded")
            self._record(entry)
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED,
                          f"AuthorizationError: {ident.subject_id!r} exceeded the call rate; back off and retry.")
        self._record(entry)
        if not decision.allowed:
            context.abort(grpc.StatusCode.PERMISSION_DENIED, f"AuthorizationError: {decision.reason}; refused.")
        return ident

    def _deserializer(self, rpc: str, inner):
        def parse(raw: bytes):
            try:
                return inner(raw)
            except Exception as exc:  # noqa: BLE001 - protobuf raises DecodeError and friends
                self._record({"rpc": rpc, "peer": None, "identity": None, "allowed": False,
                              "reason": f"malformed protobuf ({type(exc).__name__})"})
                raise
        return parse if inner is not None else None

    def intercept_service(self, continuation, handler_call_details):
        method = handler_call_details.method
        rpc = method[len(SERVICE):] if method.startswith(SERVICE) else method
        handler = continuation(handler_call_details) if method.startswith(SERVICE) else None
        if handler is None:
            def deny(request, context):
                self._record({"rpc": method, "peer": context.peer(), "identity": None, "allowed": False,
                              "reason": "unknown RPC"})
                context.abort(grpc.StatusCode.UNIMPLEMENTED, f"AuthorizationError: unknown RPC {method!r}; refused.")
            return grpc.unary_unary_rpc_method_handler(deny)

        def wrap(behavior):
            def guarded(request_or_iterator, context):
                ident = self._gate(rpc, context)
                token = CURRENT.set(ident)
                try:
                    return behavior(request_or_iterator, context)
                finally:
                    CURRENT.reset(token)
            return guarded

        deser = self._deserializer(rpc, handler.request_deserializer)
        ser = handler.response_serializer
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(wrap(handler.unary_unary), deser, ser)
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(wrap(handler.stream_unary), deser, ser)
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(wrap(handler.unary_stream), deser, ser)
        return grpc.stream_stream_rpc_method_handler(wrap(handler.stream_stream), deser, ser)
