"""The round engine: one function spells out a federated round, server side.

    sample sites -> privacy budget gate -> send global model -> sites train ->
    collect updates -> screen -> aggregate -> server optimizer -> accounting ->
    evaluate -> record

Every bracketed capability of FedShield plugs into one stage of ``RoundStages``
(robust aggregators, screening, privacy accounting, audit sinks); the transport
decides whether sites are objects in this process or hospitals over mTLS gRPC.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from fedshield.errors import ProtocolError
from fedshield.messages import FitIns, FitRes, SiteFailure
from fedshield.server.evaluation import FederatedEvaluator
from fedshield.server.events import EventSink, array_sha256
from fedshield.transport.base import Transport


class Sampler(Protocol):
    def sample(self, site_ids: list[str], round_num: int) -> list[str]: ...


class PrivacyGate(Protocol):
    """Budget enforcement and accounting (the DP issue supplies the real one)."""

    def admit(self, site_ids: list[str], round_num: int) -> tuple[list[str], dict[str, str]]: ...

    def account(self, participants: list[str], round_num: int) -> dict[str, Any]: ...


@dataclass
class ServerState:
    run_id: str
    parameters: np.ndarray
    round_num: int = 0


@dataclass
class RoundStages:
    sampler: Sampler
    screener: Any  # .screen(updates, weights, site_ids, round_num=) -> ScreeningResult
    aggregator: Any  # callable(updates, weights, *, client_ids, reference, rng) -> (d,)
    server_optimizer: Any  # .step(params, delta) -> params
    evaluator: FederatedEvaluator | None = None
    privacy: PrivacyGate | None = None
    sinks: list[EventSink] = field(default_factory=list)
    # What the server tells sites about training: a dict, or round -> dict (schedules)
    fit_config: dict[str, Any] | Callable[[int], dict[str, Any]] = field(default_factory=dict)
    min_fit_sites: int = 1
    seed: int = 0
    # Server-side reference update (FLTrust's root dataset): f(params, round) -> (d,)
    reference: Callable[[np.ndarray, int], np.ndarray] | None = None
    # Replaces "transport.fit + stack" (e.g. secure aggregation, which yields only
    # bucket aggregates): .collect(transport, admitted, ins) -> Collection. None = plain fit.
    collector: Any = None


@dataclass
class Collection:
    """What a collector hands the engine instead of individual updates.

    Rows may be bucket means rather than site updates (secure aggregation), so
    screening and the aggregator see ``labels``, while ``participants`` lists the
    sites whose inputs entered some row (for privacy accounting and the record).
    """

    updates: np.ndarray  # (m, d)
    weights: np.ndarray  # (m,)
    labels: list[str]  # (m,) one name per row
    participants: list[str]
    failures: dict[str, str] = field(default_factory=dict)


@dataclass
class RoundRecord:
    round_num: int
    sampled: list[str]
    participants: list[str]
    failures: dict[str, str]
    refused: dict[str, str]
    verdicts: list[dict[str, Any]]
    train_loss: dict[str, float]
    aggregate_norm: float
    model_sha256: str
    evaluation: dict[str, Any]
    privacy: dict[str, Any]
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _json_safe(value: Any) -> Any:
    """Audit records hold finite JSON numbers only: NaN/Inf scores become None."""
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def _emit(stages: RoundStages, kind: str, payload: dict[str, Any]) -> None:
    if not stages.sinks:
        return
    payload = _json_safe(payload)
    for sink in stages.sinks:
        sink.record(kind, payload)


def run_round(state: ServerState, stages: RoundStages, transport: Transport) -> RoundRecord:
    """Run round ``state.round_num + 1`` and advance ``state``; see the module docstring."""
    t0 = time.perf_counter()
    rnd = state.round_num + 1
    _emit(stages, "round_start", {"round": rnd, "model_sha256": array_sha256(state.parameters)})

    sampled = stages.sampler.sample(transport.site_ids(), rnd)
    refused: dict[str, str] = {}
    admitted = sampled
    if stages.privacy is not None:
        admitted, refused = stages.privacy.admit(sampled, rnd)
    for sid, why in refused.items():
        _emit(stages, "participant", {"round": rnd, "site": sid, "status": "refused", "reason": why})
    if len(admitted) < stages.min_fit_sites:
        raise ProtocolError(
            f"Round {rnd}: only {len(admitted)} site(s) may train (refused: {refused}); "
            f"min_fit_sites is {stages.min_fit_sites}. The run stops here."
        )

    fit_config = stages.fit_config(rnd) if callable(stages.fit_config) else stages.fit_config
    ins = FitIns(run_id=state.run_id, round_num=rnd, parameters=state.parameters, config=fit_config)
    if stages.collector is not None:
        collected = stages.collector.collect(transport, admitted, ins)
        failures = dict(collected.failures)
        for sid, why in failures.items():
            _emit(stages, "participant", {"round": rnd, "site": sid, "status": "failed", "reason": why})
        if len(collected.participants) < stages.min_fit_sites:
            raise ProtocolError(
                f"Round {rnd}: {len(collected.participants)} site(s) contributed, fewer than min_fit_sites="
                f"{stages.min_fit_sites} (failures: {failures})."
            )
        for sid in collected.participants:
            _emit(stages, "participant", {"round": rnd, "site": sid, "status": "trained"})
        results, malformed = [], []
        site_ids = list(collected.labels)
        participants = list(collected.participants)
        updates = np.asarray(collected.updates, dtype=np.float32)
        weights = np.asarray(collected.weights, dtype=np.float64)
    else:
        answers = transport.fit(admitted, ins)
        results = [a for a in answers if isinstance(a, FitRes)]
        failures = {a.site_id: a.reason for a in answers if isinstance(a, SiteFailure)}
        for sid, why in failures.items():
            _emit(stages, "participant", {"round": rnd, "site": sid, "status": "failed", "reason": why})
        if len(results) < stages.min_fit_sites:
            raise ProtocolError(
                f"Round {rnd}: {len(results)} site(s) answered, fewer than min_fit_sites="
                f"{stages.min_fit_sites} (failures: {failures})."
            )
        for r in results:
            _emit(stages, "participant", {"round": rnd, "site": r.site_id, "status": "trained"})

        results, malformed = _split_malformed(results, expected_dim=state.parameters.shape[0])
        site_ids = [r.site_id for r in results]
        participants = site_ids
        updates = np.stack([r.delta for r in results]).astype(np.float32, copy=False) if results else (
            np.zeros((0, state.parameters.shape[0]), np.float32))
        weights = np.array([r.num_examples for r in results], dtype=np.float64)
    screening = stages.screener.screen(updates, weights, site_ids, round_num=rnd)
    verdicts = malformed + [v.to_dict() for v in screening.verdicts]
    rows = [(r.site_id, r.delta, r.num_examples) for r in results] if stages.collector is None else (
        list(zip(site_ids, updates, weights.tolist())))
    for (label, delta, count), v in zip(rows, verdicts[len(malformed):]):
        _emit(stages, "update", {
            "round": rnd, "site": label, "update_sha256": array_sha256(delta),
            "norm": float(np.linalg.norm(delta)) if np.isfinite(delta).all() else None,
            "num_examples": count, "verdict": v,
        })
    if len(screening.site_ids) == 0:
        raise ProtocolError(f"Round {rnd}: screening rejected every update; nothing to aggregate.")

    rng = np.random.default_rng([stages.seed, rnd, 7])
    reference = stages.reference(state.parameters, rnd) if stages.reference is not None else None
    aggregate = stages.aggregator(
        screening.updates, screening.weights, client_ids=list(screening.site_ids), reference=reference, rng=rng
    )
    state.parameters = stages.server_optimizer.step(state.parameters, aggregate)
    state.round_num = rnd
    model_hash = array_sha256(state.parameters)
    _emit(stages, "aggregate", {"round": rnd, "sites": list(screening.site_ids),
                                "aggregate_sha256": array_sha256(aggregate), "model_sha256": model_hash})

    privacy = stages.privacy.account(participants, rnd) if stages.privacy is not None else {}
    if privacy:
        _emit(stages, "privacy", {"round": rnd, **privacy})

    evaluation = (
        stages.evaluator.evaluate(run_id=state.run_id, round_num=rnd, parameters=state.parameters)
        if stages.evaluator is not None else {}
    )
    for sink in stages.sinks:
        sink.end_round(rnd)
    return RoundRecord(
        round_num=rnd,
        sampled=sampled,
        participants=participants,
        failures=failures,
        refused=refused,
        verdicts=verdicts,
        train_loss={r.site_id: float(r.metrics.get("train_loss", float("nan"))) for r in results},
        aggregate_norm=float(np.linalg.norm(aggregate)),
        model_sha256=model_hash,
        evaluation=evaluation,
        privacy=privacy,
        seconds=time.perf_counter() - t0,
    )


def _split_malformed(results: list[FitRes], *, expected_dim: int) -> tuple[list[FitRes], list[dict]]:
    """Updates that cannot even be stacked (wrong shape, bad example count) are
    rejected here with a verdict, so one broken site cannot crash the round."""
    good, rejected = [], []
    for r in results:
        delta = np.asarray(r.delta)
        if delta.ndim != 1 or delta.shape[0] != expected_dim:
            why = f"wrong shape {delta.shape}, expected ({expected_dim},)"
        elif not isinstance(r.num_examples, int) or r.num_examples < 1:
            why = f"num_examples must be an int >= 1, got {r.num_examples!r}"
        else:
            good.append(r)
            continue
        rejected.append({"site_id": r.site_id, "decision": "rejected", "reason": why, "scores": {}})
    return good, rejected
