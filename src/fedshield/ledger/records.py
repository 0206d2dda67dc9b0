"""Canonical, schema-versioned audit event records.

Why canonical: a leaf hash commits to bytes, so one event must have exactly one
encoding (sorted keys, no whitespace, UTF-8, finite numbers only) for an
auditor to re-derive it. Why the content policy: an audit trail that held
model weights or patient data would itself be a HIPAA disclosure, so records
carry hashes, norms and verdicts and refuse anything shaped like raw data.
"""

from __future__ import annotations

import functools
import json
import math
import numbers
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fedshield.errors import DataError, param_error

__all__ = [
    "SCHEMA_VERSION",
    "KINDS",
    "FIELDS",
    "Record",
    "make_record",
    "canonical_json",
    "decode_record",
]

SCHEMA_VERSION = 1
MAX_RECORD_BYTES = 256 * 1024
MAX_LIST_LEN = 4096
MAX_NUMERIC_LIST_LEN = 64

_HEX_DIGEST = re.compile(r"[0-9a-f]{64,128}")
# Compared after lower-casing and dropping "_"/"-", so "state_dict" == "StateDict".
_FORBIDDEN_KEYS = frozenset(
    {
        "weights", "modelweights", "data", "rawdata", "gradient", "gradients", "grads", "params",
        "parameters", "statedict", "tensor", "tensors", "array", "arrays", "vector", "vectors",
        "deltas", "embeddings", "activations", "samples", "features", "labels", "images",
        "inputs", "patient", "patients",
    }
)  # fmt: skip


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _text(limit: int) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, str) and 0 < len(v) <= limit


def _digest(v: Any) -> bool:
    return isinstance(v, str) and _HEX_DIGEST.fullmatch(v) is not None and len(v) % 2 == 0


def _nonneg(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0


def _norm(v: Any) -> bool:
    return v is None or _nonneg(v)


def _probability(v: Any) -> bool:
    return _nonneg(v) and v < 1


def _per_site(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    """A value, or a {site: value} dict (privacy accounting reports one per site)."""
    return lambda v: check(v) or (isinstance(v, Mapping) and all(check(x) for x in v.values()))


def _verdict(v: Any) -> bool:
    if isinstance(v, Mapping):
        v = v.get("decision")
    return _text(64)(v)


def _site_list(v: Any) -> bool:
    return isinstance(v, list) and all(_text(256)(s) for s in v)


_Check = tuple[Callable[[Any], bool], str]
_DIGEST: _Check = (_digest, "a lowercase hex digest of 32 to 64 bytes (e.g. hashlib.sha256(...).hexdigest())")
# Checked wherever they appear, so one field means one thing across kinds.
FIELDS: Mapping[str, _Check] = {
    "round": (_int, "an int >= 0"),
    "site": (_text(256), "a non-empty site id of at most 256 characters"),
    "run_id": (_text(256), "a non-empty run id of at most 256 characters"),
    "status": (_text(64), "a non-empty status word of at most 64 characters"),
    "reason": (_text(4096), "a non-empty explanation of at most 4096 characters"),
    "participants": (_site_list, "a list of site ids (strings)"),
    "sites": (_site_list, "a list of site ids (strings)"),
    "key_fingerprint": _DIGEST,
    "norm": (_norm, "a finite number >= 0 (the update's L2 norm), or None if it was not finite"),
    "num_examples": (_nonneg, "a finite number >= 0 (a count, or a bucket's weight)"),
    "verdict": (_verdict, "a verdict word, or a dict whose 'decision' is one (e.g. 'accepted')"),
    "epsilon": (
        _per_site(lambda v: v is None or _nonneg(v)),
        "a finite number >= 0 or None (unbounded), or a {site: epsilon} dict of them",
    ),
    "delta": (_per_site(_probability), "a number in [0, 1), or a {site: delta} dict of them"),
}
# Required fields per kind; other fields are allowed if they pass FIELDS and the content policy.
KINDS: Mapping[str, tuple[str, ...]] = {
    "run_config": ("run_id",),
    "enrollment": ("site", "key_fingerprint"),
    "revocation": ("site", "reason"),
    "round_start": ("round",),
    "participant": ("round", "site", "status"),
    "update": ("round", "site", "update_sha256", "norm", "verdict"),
    "screening": ("round", "site", "verdict"),
    "aggregate": ("round", "model_sha256"),
    "privacy": ("round",),
    "model_release": ("round", "model_sha256"),
    "round_end": ("round",),
    "access": ("site", "status", "reason"),  # an RBAC decision of the network service
}


def _check_for(name: str) -> _Check | None:
    return _DIGEST if name.endswith("_sha256") else FIELDS.get(name)


@dataclass(frozen=True, slots=True)
class Record:
    """One validated event and the exact bytes its leaf hash commits to."""

    kind: str
    payload: Mapping[str, Any]
    ts_ms: int | None
    body: bytes

    @property
    def round(self) -> int | None:
        return self.payload.get("round")

    @property
    def site(self) -> str | None:
        return self.payload.get("site")


def canonical_json(obj: Any) -> bytes:
    """Encode sorted, compact, UTF-8; non-finite floats are refused by ``allow_nan``."""
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


@functools.lru_cache(maxsize=4096)
def _forbidden(key: str) -> bool:
    return key.lower().replace("_", "").replace("-", "") in _FORBIDDEN_KEYS


def _normalise(value: Any, where: str, kind: str) -> Any:
    """Copy ``value`` into plain JSON types, refusing anything shaped like raw data.

    Exact-type checks come first: this runs for every field of every event.
    """
    t = type(value)
    if t is str or t is int or t is bool or value is None:
        return value
    if t is float:
        if not math.isfinite(value):
            raise param_error(where, f"a {kind!r} record", "a finite number", value, cls=DataError)
        return value
    if t is dict or isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if type(key) is not str:
                raise param_error(where, f"a {kind!r} record", "a dict with string keys", key, cls=DataError)
            if _forbidden(key):
                raise DataError(
                    f"A {kind!r} audit record may not carry the key {where}.{key!r}: the ledger stores "
                    "hashes, norms and verdicts, never weights, updates or data. Record a digest instead "
                    "(e.g. 'update_sha256')."
                )
            out[key] = _normalise(item, f"{where}.{key}", kind)
        return out
    if t is list or t is tuple:
        if len(value) > MAX_LIST_LEN or (
            len(value) > MAX_NUMERIC_LIST_LEN
            and all(isinstance(v, numbers.Number) and not isinstance(v, bool) for v in value)
        ):
            raise DataError(
                f"{where} in a {kind!r} audit record is a list of {len(value)} items, which looks like "
                "an array of weights or data; record its hash or a summary statistic instead."
            )
        if all(type(v) is str for v in value):
            return list(value)
        return [_normalise(v, f"{where}[{i}]", kind) for i, v in enumerate(value)]
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, numbers.Integral):  # numpy and other integer scalars
        return int(value)
    if isinstance(value, numbers.Real):  # numpy float32/float64 scalars
        return _normalise(float(value), where, kind)
    raise DataError(
        f"{where} in a {kind!r} audit record is a {type(value).__name__}; audit records hold only JSON "
        "scalars, short lists and dicts. Store a hash (hex string) instead of arrays or bytes."
    )


def _validate(kind: str, payload: Mapping[str, Any]) -> None:
    for name in KINDS[kind]:
        if name not in payload:
            check = _check_for(name)
            raise DataError(
                f"A {kind!r} audit record needs the field {name!r} ({check[1] if check else 'any value'}); "
                f"it has only {sorted(payload)}."
            )
    for name, value in payload.items():
        check = _check_for(name)
        if check is not None and not check[0](value):
            raise param_error(name, f"a {kind!r} audit record", check[1], value, cls=DataError)


def make_record(kind: str, payload: Mapping[str, Any], *, ts_ms: int | None = None) -> Record:
    """Validate an event and fix its canonical bytes; raises DataError on bad input."""
    if not isinstance(payload, Mapping):
        raise param_error("payload", "an audit record", "a dict", payload, cls=DataError)
    if not isinstance(kind, str) or kind not in KINDS:
        raise param_error("kind", "an audit record", f"one of {sorted(KINDS)}", kind, cls=DataError)
    clean = _normalise(payload, "payload", kind)
    _validate(kind, clean)
    envelope: dict[str, Any] = {"kind": kind, "payload": clean, "schema_version": SCHEMA_VERSION}
    if ts_ms is not None:
        if not _int(ts_ms):
            raise param_error("ts_ms", "an audit record", "an int >= 0 (ms since the epoch)", ts_ms)
        envelope["ts_ms"] = ts_ms
    body = canonical_json(envelope)
    if len(body) > MAX_RECORD_BYTES:
        raise DataError(
            f"A {kind!r} audit record encodes to {len(body)} bytes, over the {MAX_RECORD_BYTES}-byte "
            "limit; record hashes and summaries, not contents."
        )
    return Record(kind=kind, payload=clean, ts_ms=ts_ms, body=body)


def decode_record(body: bytes) -> Record:
    """Parse and re-validate stored bytes; refuses bytes that are not canonical."""
    try:
        obj = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise DataError(f"Entry is not valid UTF-8 JSON ({exc}); the ledger bytes were altered.") from None
    if not isinstance(obj, dict) or set(obj) - {"kind", "payload", "schema_version", "ts_ms"}:
        raise DataError("Entry is not a FedShield audit record envelope; the ledger bytes were altered.")
    if obj.get("schema_version") != SCHEMA_VERSION:
        raise DataError(
            f"Entry has schema_version {obj.get('schema_version')!r}; this FedShield reads version "
            f"{SCHEMA_VERSION}. Upgrade FedShield to read newer ledgers."
        )
    rec = make_record(obj.get("kind"), obj.get("payload"), ts_ms=obj.get("ts_ms"))  # type: ignore[arg-type]
    if rec.body != body:
        raise DataError("Entry bytes are not in canonical form; the ledger bytes were altered.")
    return rec
