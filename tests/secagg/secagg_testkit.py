"""Shared helpers for the SecAgg+ tests: configs, inputs, exact means, manual stepping."""

from __future__ import annotations

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fedshield.secagg import SecAggClient, SecAggConfig, SecAggServer
from fedshield.secagg.prg import seeded_random_bytes


def make_config(
    *,
    n: int,
    k: int,
    t: int,
    d: int = 16,
    clip: float = 1.0,
    max_weight: int = 100,
    bits: int | None = None,
    identities: dict | None = None,
    round_id: bytes = b"round-0001",
) -> SecAggConfig:
    return SecAggConfig.for_round(
        round_id=round_id,
        client_ids=list(range(n)),
        dim_params=d,
        graph_seed=b"public-beacon-value-0001",
        clip_range=clip,
        degree=k,
        threshold=t,
        bits=bits,
        max_weight=max_weight,
        identity_public_keys=None
        if identities is None
        else {c: k_.public_key().public_bytes_raw() for c, k_ in identities.items()},
    )


def identities(n: int) -> dict[int, Ed25519PrivateKey]:
    return {c: Ed25519PrivateKey.from_private_bytes(bytes([c + 1]) * 32) for c in range(n)}


def make_updates(n: int, d: int, *, seed: int = 0, scale: float = 0.5) -> dict[int, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {c: rng.normal(0.0, scale, d).astype(np.float32) for c in range(n)}


def make_weights(n: int, *, seed: int = 0, max_weight: int = 100) -> dict[int, int]:
    rng = np.random.default_rng(seed + 1)
    return {c: int(rng.integers(1, max_weight + 1)) for c in range(n)}


def exact_mean(updates, weights, survivors, clip: float) -> np.ndarray:
    total = sum(weights[c] for c in survivors)
    acc = sum(weights[c] * np.clip(updates[c].astype(np.float64), -clip, clip) for c in survivors)
    return acc / total


def make_parties(cfg: SecAggConfig, *, seed: int = 0, ids: dict | None = None):
    clients = {
        c: SecAggClient(
            client_id=c,
            config=cfg,
            identity_key=None if ids is None else ids[c],
            random_bytes=seeded_random_bytes(seed, label=str(c).encode()),
        )
        for c in cfg.client_ids
    }
    return clients, SecAggServer(config=cfg)


def step_to_masked(cfg, clients, server, updates, weights):
    """Run stages 0-1 for everyone; return the inboxes for stage 2."""
    for c in cfg.client_ids:
        server.receive(clients[c].advertise_keys())
    rosters = server.close_stage()
    for c in cfg.client_ids:
        server.receive(clients[c].share_keys(rosters[c]))
    return server.close_stage()
