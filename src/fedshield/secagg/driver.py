"""An in-memory transport that runs one SecAgg+ round over n simulated sites.

Why it exists: tests and benchmarks need full rounds with dropouts at any
stage, and a record of exactly what the server received (to check it only
ever sees masked vectors), without sockets. A gRPC transport replaces only
this file: it carries the same messages between the same state machines.
"""

from __future__ import annotations

import os
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fedshield.errors import param_error
from fedshield.secagg.client import SecAggClient
from fedshield.secagg.config import SecAggConfig
from fedshield.secagg.messages import AggregateResult, MaskedInput, Stage
from fedshield.secagg.prg import seeded_random_bytes
from fedshield.secagg.server import SecAggServer

__all__ = ["run_secagg", "SecAggRun", "Transcript"]

_DROP_STAGES = {s.value: s for s in Stage if s is not Stage.DONE}


@dataclass
class Transcript:
    """What crossed into the server, and where the time went."""

    received: list[tuple[Stage, int, object]] = field(default_factory=list)
    server_seconds: float = 0.0
    client_seconds: dict[int, float] = field(default_factory=dict)

    def masked_vectors(self) -> dict[int, np.ndarray]:
        return {cid: msg.masked for _, cid, msg in self.received if isinstance(msg, MaskedInput)}


@dataclass
class SecAggRun:
    result: AggregateResult
    transcript: Transcript


def run_secagg(
    *,
    config: SecAggConfig,
    updates: Mapping[int, np.ndarray],
    weights: Mapping[int, int] | None = None,
    dropouts: Mapping[str, Collection[int]] | None = None,
    identity_keys: Mapping[int, Ed25519PrivateKey | bytes] | None = None,
    seed: int | None = None,
    record_messages: bool = True,
) -> SecAggRun:
    """Run one round; ``dropouts[stage]`` lists clients that go silent at that stage.

    A client dropping at a stage never sends that stage's message nor any later
    one. ``seed`` makes every client's randomness reproducible (tests only);
    without it clients draw from ``os.urandom``. With ``record_messages`` the
    transcript keeps every message the server received (keep it off for large d).
    """
    drops = _parse_dropouts(dropouts or {}, config)
    missing = set(config.client_ids) - set(updates)
    if missing:
        raise param_error("updates", "run_secagg", "one update per client", f"missing {sorted(missing)}")
    weights = weights if weights is not None else {c: config.max_weight for c in config.client_ids}
    transcript = Transcript(client_seconds={c: 0.0 for c in config.client_ids})
    clients = {
        c: SecAggClient(
            client_id=c,
            config=config,
            identity_key=(identity_keys or {}).get(c),
            random_bytes=os.urandom if seed is None else seeded_random_bytes(seed, label=str(c).encode()),
        )
        for c in config.client_ids
    }
    t0 = time.perf_counter()
    server = SecAggServer(config=config)
    transcript.server_seconds += time.perf_counter() - t0

    def client_call(cid, fn, *args, **kwargs):
        start = time.perf_counter()
        out = fn(*args, **kwargs)
        transcript.client_seconds[cid] += time.perf_counter() - start
        return out

    def server_call(fn, *args):
        start = time.perf_counter()
        out = fn(*args)
        transcript.server_seconds += time.perf_counter() - start
        return out

    def deliver(stage: Stage, cid: int, msg: object) -> None:
        if record_messages:
            transcript.received.append((stage, cid, msg))
        server_call(server.receive, msg)

    gone: set[int] = set()
    inbound: dict[int, object] = {c: None for c in config.client_ids}
    plan = [
        (Stage.ADVERTISE_KEYS, lambda c, m: clients[c].advertise_keys()),
        (Stage.SHARE_KEYS, lambda c, m: clients[c].share_keys(m)),
        (Stage.MASKED_INPUT, lambda c, m: clients[c].masked_input(m, update=updates[c], weight=weights[c])),
    ]
    if config.active_security:
        plan.append((Stage.CONSISTENCY_CHECK, lambda c, m: clients[c].consistency_check(m)))
    plan.append((Stage.UNMASK, lambda c, m: clients[c].unmask(m)))
    for stage, act in plan:
        gone |= drops.get(stage, set())
        for cid in sorted(inbound):
            if cid in gone:
                continue
            reply = client_call(cid, act, cid, inbound[cid])
            deliver(stage, cid, reply)
            del reply  # the driver keeps nothing unless recording
        outcome = server_call(server.close_stage)
        if isinstance(outcome, AggregateResult):
            return SecAggRun(outcome, transcript)
        inbound = dict(outcome)
    raise AssertionError("unreachable: the unmask stage always yields a result")


def _parse_dropouts(dropouts: Mapping[str, Collection[int]], config: SecAggConfig) -> dict[Stage, set[int]]:
    out: dict[Stage, set[int]] = {}
    for name, ids in dropouts.items():
        stage = _DROP_STAGES.get(getattr(name, "value", name))
        if stage is None or (stage is Stage.CONSISTENCY_CHECK and not config.active_security):
            raise param_error("dropouts", "run_secagg", f"keyed by one of {sorted(_DROP_STAGES)}", name)
        unknown = set(ids) - set(config.client_ids)
        if unknown:
            raise param_error("dropouts", "run_secagg", "ids of sampled clients", sorted(unknown))
        out[stage] = set(ids)
    return out
