"""Server-side rendezvous between the round engine and connected sites.

The engine (via ``GrpcTransport``) posts one task per sampled site and waits;
sites long-poll for their task and submit answers. Every answer is checked
against the task it claims to answer (run, round, model hash, single-use nonce,
signature) before it counts, and accepted updates are journaled to disk first
so a restarted server neither loses nor double-counts them.

Multi-stage protocols (SecAgg+) use the same slots: a "stage" task carries one
encoded stage message, and the site's answer arrives through ``SubmitUpdate``
signed as kind "stage" and bound to the same (run, round, message hash, nonce)
as an update; stage answers are never journaled (a secure round that a crash
interrupts is run again from its first stage).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from fedshield.errors import ProtocolError, VerificationError
from fedshield.messages import EvaluateRes, FitRes, SiteFailure
from fedshield.net import signing
from fedshield.net.codec import STAGE_REPLIES, bytes_to_params, decode_stage, from_npy
from fedshield.pki.identity import Identity
from fedshield.server.events import array_sha256

log = logging.getLogger("fedshield.net.coordinator")
MAX_EXAMPLES = 100_000_000
STAGE_OVERHEAD = 1 << 20  # bytes a stage answer may add to 4 bytes per parameter (keys, shares, framing)


def _check_eval(num_examples: int, labels, scores) -> None:
    """A malformed evaluation must be refused here: pooled metrics concatenate
    every site's arrays, so one bad answer would otherwise break the round."""
    if not 0 <= num_examples <= MAX_EXAMPLES:
        raise VerificationError(f"num_examples must be in [0, {MAX_EXAMPLES}]; got {num_examples}.")
    if (labels is None) != (scores is None):
        raise VerificationError("An evaluation must carry both labels and scores, or neither.")
    if labels is None:
        return
    if not len(labels) == len(scores) == num_examples:
        raise VerificationError(f"An evaluation has {len(labels)} labels and {len(scores)} scores for "
                                f"{num_examples} examples; they must all match.")
    if not np.isin(labels, (0, 1)).all() or not (np.isfinite(scores).all() and ((scores >= 0) & (scores <= 1)).all()):
        raise VerificationError("Evaluation labels must be 0/1 and scores probabilities in [0, 1].")


@dataclass
class TaskSlot:
    kind: str  # "fit" | "evaluate" | "stage"
    round_num: int
    nonce: bytes
    model_sha256: str
    payload: bytes
    config_json: str
    delivered_at: float | None = None


@dataclass
class _Site:
    joined_at: float
    last_seen: float


@dataclass
class Coordinator:
    run_id: str
    scenario_sha256: str
    num_params: int
    expected_sites: list[str]
    journal_dir: Path | None = None
    reducer: Callable[[str, np.ndarray, int], None] | None = None  # stream-aggregate instead of keeping deltas
    # Fault drill: (round, n) makes the process die right after journaling the
    # n-th update of that round, before acknowledging it (set by the server from
    # FEDSHIELD_FAULT_CRASH_AFTER="round:n"; never on by default).
    crash_after: tuple[int, int] | None = None
    state: str = "waiting"
    round_num: int = 0
    model_sha256: str = ""
    _cond: threading.Condition = field(default_factory=threading.Condition)
    _sites: dict[str, _Site] = field(default_factory=dict)
    _tasks: dict[str, TaskSlot] = field(default_factory=dict)
    _answers: dict[tuple[str, int, str], Any] = field(default_factory=dict)
    _used_nonces: set[bytes] = field(default_factory=set)
    _late_nonces: set[bytes] = field(default_factory=set)
    _stopped_sites: set[str] = field(default_factory=set)
    # What each site reported at Join (public metadata, e.g. its record count);
    # ``check_join(site, info)`` may refuse a site whose report does not fit the run.
    site_info: dict[str, dict[str, Any]] = field(default_factory=dict)
    check_join: Callable[[str, dict[str, Any]], None] | None = None

    # --- membership -----------------------------------------------------
    def join(self, ident: Identity, info: dict[str, Any] | None = None) -> None:
        if ident.subject_id not in self.expected_sites:
            raise ProtocolError(f"{ident.subject_id!r} is enrolled but not a participant of run {self.run_id}; "
                                "add it to the server's `sites` list.")
        info = dict(info or {})
        if self.check_join is not None:
            self.check_join(ident.subject_id, info)
        with self._cond:
            known = self.site_info.get(ident.subject_id)
            if known is not None and known.get("num_records") != info.get("num_records"):
                raise ProtocolError(f"{ident.subject_id!r} rejoined reporting {info.get('num_records')!r} records "
                                    f"after {known.get('num_records')!r}; a site's record count cannot change "
                                    "during a run (its privacy accounting depends on it).")
            self.site_info[ident.subject_id] = info
            now = time.monotonic()
            self._sites.setdefault(ident.subject_id, _Site(now, now)).last_seen = now
            self._cond.notify_all()

    def seen(self, site: str) -> None:
        with self._cond:
            if site in self._sites:
                self._sites[site].last_seen = time.monotonic()

    def joined(self) -> list[str]:
        with self._cond:
            return [s for s in self.expected_sites if s in self._sites]

    def wait_for_sites(self, count: int, timeout_s: float) -> list[str]:
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while len(self._sites) < count and self.state != "stopping":
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(min(left, 1.0))
        return self.joined()

    # --- tasks ----------------------------------------------------------
    def fetch(self, site: str, wait_s: float) -> tuple[str, TaskSlot | None]:
        deadline = time.monotonic() + max(0.0, min(wait_s, 30.0))
        with self._cond:
            if site not in self._sites:
                raise ProtocolError(f"{site!r} has not joined; call Join first.")
            while True:
                self._sites[site].last_seen = time.monotonic()
                task = self._tasks.get(site)
                if task is not None and task.delivered_at is None:
                    task.delivered_at = time.monotonic()
                    return task.kind, task
                if self.state in ("done", "stopped"):
                    self._stopped_sites.add(site)
                    self._cond.notify_all()
                    return "stop", None
                left = deadline - time.monotonic()
                if left <= 0:
                    return "wait", None
                self._cond.wait(left)

    def post(self, kind: str, round_num: int, site_ids: list[str], *, parameters: np.ndarray,
             config: dict[str, Any]) -> None:
        payload = np.ascontiguousarray(parameters, dtype="<f4").tobytes()
        model_sha = array_sha256(parameters)
        cfg = json.dumps(config, sort_keys=True, default=str)
        with self._cond:
            self.round_num, self.model_sha256 = round_num, model_sha
            for sid in site_ids:
                if (kind, round_num, sid) in self._answers:
                    continue
                self._tasks[sid] = TaskSlot(kind, round_num, secrets.token_bytes(16), model_sha, payload, cfg)
            self._cond.notify_all()

    def post_stage(self, round_num: int, payloads: dict[str, bytes]) -> None:
        """One stage message per site (already encoded); the answers come back through ``collect("stage")``."""
        with self._cond:
            for sid, payload in payloads.items():
                if ("stage", round_num, sid) in self._answers:
                    continue
                self._tasks[sid] = TaskSlot("stage", round_num, secrets.token_bytes(16), signing.sha256(payload),
                                            payload, "")
            self._cond.notify_all()

    def collect(self, kind: str, round_num: int, site_ids: list[str], *, timeout_s: float,
                dead_after_s: float) -> list[Any]:
        """Wait for every answer; a site silent for ``dead_after_s`` or past the
        round timeout becomes a ``SiteFailure`` so the quorum decides."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while True:
                now = time.monotonic()
                pending = [s for s in site_ids if (kind, round_num, s) not in self._answers]
                for s in pending:
                    st = self._sites.get(s)
                    if st is None or now - st.last_seen > dead_after_s:
                        why = "not connected" if st is None else f"silent for {now - st.last_seen:.1f} s"
                        self._fail(kind, round_num, s, why)
                    elif now >= deadline:
                        self._fail(kind, round_num, s, f"no answer within the {timeout_s:.0f} s round timeout")
                if all((kind, round_num, s) in self._answers for s in site_ids):
                    break
                self._cond.wait(min(1.0, max(0.01, deadline - now)))
            out = [self._answers.pop((kind, round_num, s)) for s in site_ids]
            for s in site_ids:
                t = self._tasks.get(s)
                if t is not None and t.kind == kind and t.round_num == round_num:
                    del self._tasks[s]
            return out

    def _fail(self, kind: str, round_num: int, site: str, why: str) -> None:
        log.warning("site %s failed %s round %d: %s", site, kind, round_num, why)
        self._answers[(kind, round_num, site)] = SiteFailure(site, round_num, why)
        t = self._tasks.get(site)
        if t is not None and t.kind == kind and t.round_num == round_num:
            del self._tasks[site]
            self._late_nonces.add(t.nonce)

    # --- answers --------------------------------------------------------
    def _open_task(self, ident: Identity, kind: str, run_id: str, round_num: int, model_sha: str,
                   nonce: bytes) -> TaskSlot:
        """Called with the lock held; raises before any payload is read."""
        site = ident.subject_id
        if nonce in self._late_nonces:
            raise ProtocolError(f"The {kind} from {site!r} arrived after its round closed (the site was marked "
                                "failed); it is not counted. Fetch the next task.")
        if nonce in self._used_nonces:
            raise VerificationError(f"Replayed {kind} from {site!r}: its nonce was already used; refused.")
        task = self._tasks.get(site)
        if run_id != self.run_id:
            raise VerificationError(f"The {kind} is for run {run_id!r}, this server runs {self.run_id!r}; refused.")
        if task is None or task.kind != kind:
            raise ProtocolError(f"No {kind} task is open for {site!r}; fetch a task first (a late or "
                                "duplicate answer is not counted).")
        if round_num != task.round_num:
            raise VerificationError(f"The {kind} is for round {round_num}, but round {task.round_num} is open; "
                                    "cross-round reuse is refused.")
        if model_sha != task.model_sha256:
            raise VerificationError(f"The {kind} was computed on model {model_sha[:12]}…, not the current global "
                                    f"model {task.model_sha256[:12]}…; a stale update is refused.")
        if not secrets.compare_digest(nonce, task.nonce):
            raise VerificationError(f"The {kind} carries an unknown nonce; it does not answer the open task.")
        return task

    def _open_kind(self, ident: Identity) -> str:
        """An ``UpdateChunk`` stream answers the site's open task: a fit, or a stage of a secure round."""
        with self._cond:
            task = self._tasks.get(ident.subject_id)
            return "stage" if task is not None and task.kind == "stage" else "fit"

    def check_fit_header(self, ident: Identity, h) -> int:
        """Check an upload's header before its bytes arrive; returns the most bytes it may carry."""
        if self._open_kind(ident) == "stage":
            with self._cond:
                self._open_task(ident, "stage", h.run_id, h.round, h.model_sha256, h.nonce)
            limit = 4 * (self.num_params + 1) + STAGE_OVERHEAD
            if not 0 < h.num_params <= limit or h.num_examples != 0:
                raise VerificationError(f"A stage answer declares {h.num_params} bytes and {h.num_examples} "
                                        f"examples; at most {limit} bytes and 0 examples are allowed.")
            return int(h.num_params)
        with self._cond:
            self._open_task(ident, "fit", h.run_id, h.round, h.model_sha256, h.nonce)
        if h.num_params != self.num_params:
            raise VerificationError(f"The update declares {h.num_params} parameters; the model has "
                                    f"{self.num_params}. Wrong-shape updates are refused.")
        if not 1 <= h.num_examples <= MAX_EXAMPLES:
            raise VerificationError(f"num_examples must be in [1, {MAX_EXAMPLES}]; got {h.num_examples}.")
        return 4 * self.num_params

    def accept_stage(self, ident: Identity, h, data: bytearray) -> None:
        """A site's answer to a stage message: same checks as an update (hash, signature over run, round,
        the stage message's hash and the single-use nonce, sender from the certificate), then decoded
        with the stage codec, which rebuilds only the reply types of the protocol."""
        site = ident.subject_id
        if len(data) != h.num_params or signing.sha256(data) != h.update_sha256:
            raise VerificationError("The stage answer's bytes do not match its declared size and hash.")
        signing.verify(ident.public_key(), h.signature, signing.payload(
            "stage", identity=site, run_id=h.run_id, round_num=h.round, model_sha256=h.model_sha256,
            nonce=h.nonce, content_sha256=h.update_sha256, num_examples=0))
        reply = decode_stage(data, allowed=STAGE_REPLIES)
        with self._cond:
            task = self._open_task(ident, "stage", h.run_id, h.round, h.model_sha256, h.nonce)
            self._used_nonces.add(task.nonce)
            del self._tasks[site]
            self._answers[("stage", task.round_num, site)] = reply
            self._cond.notify_all()

    def accept_fit(self, ident: Identity, h, data: bytearray) -> None:
        site = ident.subject_id
        if self._open_kind(ident) == "stage":
            return self.accept_stage(ident, h, data)
        if signing.sha256(data) != h.update_sha256:
            raise VerificationError("The update's bytes do not match its declared hash; it was altered in transit.")
        signing.verify(ident.public_key(), h.signature, signing.payload(
            "update", identity=site, run_id=h.run_id, round_num=h.round, model_sha256=h.model_sha256,
            nonce=h.nonce, content_sha256=h.update_sha256, num_examples=h.num_examples))
        delta = bytes_to_params(data, self.num_params)
        try:
            metrics = {k: float(v) for k, v in json.loads(h.metrics_json or "{}").items()}
        except (ValueError, TypeError, AttributeError):
            raise VerificationError("metrics_json must be a JSON object of numbers.") from None
        with self._cond:
            task = self._open_task(ident, "fit", h.run_id, h.round, h.model_sha256, h.nonce)
            self._used_nonces.add(task.nonce)
            del self._tasks[site]
            res = FitRes(site, task.round_num, delta, int(h.num_examples), metrics)
            self._journal(res, task.model_sha256)
            if self.reducer is not None:
                self.reducer(site, delta, int(h.num_examples))
                res = FitRes(site, task.round_num, np.empty(0, np.float32), int(h.num_examples), metrics)
            self._answers[("fit", task.round_num, site)] = res
            self._cond.notify_all()

    def accept_eval(self, ident: Identity, r) -> None:
        site = ident.subject_id
        content = signing.sha256(r.labels_npy + b"|" + r.scores_npy + b"|" + r.metrics_json.encode())
        signing.verify(ident.public_key(), r.signature, signing.payload(
            "eval", identity=site, run_id=r.run_id, round_num=r.round, model_sha256=r.model_sha256,
            nonce=r.nonce, content_sha256=content, num_examples=r.num_examples))
        try:
            metrics = {k: float(v) for k, v in json.loads(r.metrics_json or "{}").items()}
        except (ValueError, TypeError, AttributeError):
            raise VerificationError("metrics_json must be a JSON object of numbers.") from None
        labels, scores = from_npy(r.labels_npy), from_npy(r.scores_npy)
        _check_eval(r.num_examples, labels, scores)
        with self._cond:
            task = self._open_task(ident, "evaluate", r.run_id, r.round, r.model_sha256, r.nonce)
            self._used_nonces.add(task.nonce)
            del self._tasks[site]
            self._answers[("evaluate", task.round_num, site)] = EvaluateRes(
                site, task.round_num, int(r.num_examples), metrics, labels, scores)
            self._cond.notify_all()

    # --- journal (crash safety) -------------------------------------------
    def _journal(self, res: FitRes, model_sha: str) -> None:
        if self.journal_dir is None:
            return
        self.journal_dir.mkdir(parents=True, exist_ok=True)
        stem = self.journal_dir / f"r{res.round_num}-{res.site_id}"
        tmp = stem.with_suffix(".tmp.npy")
        np.save(tmp, res.delta, allow_pickle=False)
        os.replace(tmp, stem.with_suffix(".npy"))
        meta = {"site": res.site_id, "round": res.round_num, "num_examples": res.num_examples,
                "metrics": res.metrics, "model_sha256": model_sha, "update_sha256": array_sha256(res.delta)}
        tmpj = stem.with_suffix(".tmp.json")
        tmpj.write_text(json.dumps(meta))
        os.replace(tmpj, stem.with_suffix(".json"))
        if self.crash_after is not None and self.crash_after[0] == res.round_num:
            if len(list(self.journal_dir.glob(f"r{res.round_num}-*.json"))) >= self.crash_after[1]:
                log.critical("fault drill: crashing after journaling %s", stem.name)
                os._exit(137)

    def replay_journal(self, round_num: int, site_ids: list[str], model_sha: str) -> list[str]:
        """Re-count updates accepted before a crash (same round, same model)."""
        found = []
        if self.journal_dir is None or not self.journal_dir.is_dir():
            return found
        for sid in site_ids:
            stem = self.journal_dir / f"r{round_num}-{sid}"
            try:
                meta = json.loads(stem.with_suffix(".json").read_text())
                delta = np.load(stem.with_suffix(".npy"), allow_pickle=False)
            except (OSError, ValueError):
                continue
            if meta["model_sha256"] != model_sha or array_sha256(delta) != meta["update_sha256"]:
                continue
            res = FitRes(sid, round_num, delta, int(meta["num_examples"]), meta["metrics"])
            with self._cond:
                if self.reducer is not None:
                    self.reducer(sid, delta, res.num_examples)
                self._answers[("fit", round_num, sid)] = res
            found.append(sid)
        return found

    def clear_journal(self) -> None:
        if self.journal_dir is not None and self.journal_dir.is_dir():
            for p in self.journal_dir.iterdir():
                p.unlink(missing_ok=True)

    # --- lifecycle ------------------------------------------------------
    def finish(self, state: str = "done") -> None:
        with self._cond:
            self.state = state
            self._cond.notify_all()

    def wait_all_stopped(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while set(self._sites) - self._stopped_sites:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.5))
        return True
