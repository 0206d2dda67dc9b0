"""Canonical records: one encoding per event, required fields, and no raw data ever."""

from __future__ import annotations

import math

import numpy as np
import pytest
from ledger_testkit import digest, round_events

from fedshield.errors import DataError
from fedshield.ledger.records import KINDS, SCHEMA_VERSION, canonical_json, decode_record, make_record

MINIMAL = {
    "run_config": {"run_id": "r1"},
    "enrollment": {"site": "a", "key_fingerprint": digest("k")},
    "revocation": {"site": "a", "reason": "key compromised"},
    "round_start": {"round": 1},
    "participant": {"round": 1, "site": "a", "status": "trained"},
    "update": {"round": 1, "site": "a", "update_sha256": digest("u"), "norm": 0.5, "verdict": "accepted"},
    "screening": {"round": 1, "site": "a", "verdict": "rejected"},
    "aggregate": {"round": 1, "model_sha256": digest("m")},
    "privacy": {"round": 1},
    "model_release": {"round": 1, "model_sha256": digest("m")},
    "round_end": {"round": 1},
    "access": {"site": "a", "status": "denied", "reason": "role site may not call StartRun"},
}


def test_every_kind_has_a_minimal_example():
    assert set(MINIMAL) == set(KINDS) == {
        "run_config", "enrollment", "revocation", "round_start", "participant", "update", "screening",
        "aggregate", "privacy", "model_release", "round_end", "access",
    }


def test_canonical_encoding_is_sorted_compact_utf8():
    rec = make_record("participant", {"status": "trained", "site": "Hôpital-é", "round": 2}, ts_ms=5)
    assert rec.body == (
        '{"kind":"participant","payload":{"round":2,"site":"Hôpital-é","status":"trained"},'
        f'"schema_version":{SCHEMA_VERSION},"ts_ms":5}}'
    ).encode("utf-8")
    assert canonical_json({"b": 1, "a": [1.5, None]}) == b'{"a":[1.5,null],"b":1}'
    # Same event, other insertion order: same bytes.
    again = make_record("participant", {"round": 2, "site": "Hôpital-é", "status": "trained"}, ts_ms=5)
    assert again.body == rec.body


@pytest.mark.parametrize("kind", sorted(MINIMAL))
def test_each_kind_accepts_its_minimum_and_names_missing_fields(kind):
    rec = make_record(kind, MINIMAL[kind])
    assert decode_record(rec.body) == rec
    for field in KINDS[kind]:
        payload = {k: v for k, v in MINIMAL[kind].items() if k != field}
        with pytest.raises(DataError, match=f"needs the field '{field}'"):
            make_record(kind, payload)


def test_engine_payloads_are_accepted():
    for kind, payload in round_events(3):
        rec = make_record(kind, payload, ts_ms=1)
        assert rec.round == 3 and decode_record(rec.body) == rec
    # fedshield.privacy.gate.PrivacyGate.account() reports per-site budgets.
    make_record("privacy", {"round": 3, "mode": "client", "accountant": "rdp", "epsilon": {"a": 1.2, "b": None},
                            "delta": {"a": 1e-5, "b": 1e-5}, "exhausted": ["b"]})
    # Secure-aggregation buckets carry float weights.
    make_record("update", {**MINIMAL["update"], "num_examples": 40.0})


@pytest.mark.parametrize(
    ("kind", "field", "bad"),
    [
        ("round_start", "round", -1),
        ("round_start", "round", True),
        ("round_start", "round", "3"),
        ("participant", "site", ""),
        ("update", "norm", -0.1),
        ("update", "update_sha256", "XYZ"),
        ("update", "update_sha256", digest("u").upper()),
        ("update", "verdict", {"decision": ""}),
        ("aggregate", "sites", ["a", 3]),
        ("privacy", "delta", 1.0),
        ("privacy", "epsilon", -1),
        ("privacy", "epsilon", {"a": -1.0}),
        ("privacy", "delta", {"a": 2.0}),
        ("enrollment", "key_fingerprint", "abc"),
    ],
)
def test_field_types_are_validated(kind, field, bad):
    payload = {**MINIMAL[kind], field: bad}
    with pytest.raises(DataError, match=repr(field)):
        make_record(kind, payload)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, np.float32("nan"), np.float64("inf")])
def test_non_finite_numbers_are_refused(bad):
    with pytest.raises(DataError, match="finite"):
        make_record("privacy", {"round": 1, "epsilon": 1.0, "extra": {"score": bad}})


def test_numpy_scalars_become_plain_json():
    rec = make_record("update", {**MINIMAL["update"], "norm": np.float32(0.25), "num_examples": np.int64(7)})
    assert b'"norm":0.25' in rec.body and b'"num_examples":7' in rec.body


@pytest.mark.parametrize(
    "payload",
    [
        {"weights": "x"},
        {"Data": 1},
        {"meta": {"state_dict": {}}},
        {"meta": [{"model-weights": 1}]},
        {"gradients": None},
        {"patient": "id-1"},
    ],
)
def test_keys_that_smell_of_weights_or_data_are_refused(payload):
    with pytest.raises(DataError, match="never weights"):
        make_record("round_end", {"round": 1, **payload})


@pytest.mark.parametrize(
    "value",
    [np.zeros(3), b"\x00\x01", bytearray(4), list(range(65)), [0.5] * 100, {1, 2}, object()],
)
def test_arrays_bytes_and_objects_are_refused(value):
    with pytest.raises(DataError, match="hash"):
        make_record("round_end", {"round": 1, "blob": value})


def test_short_lists_and_site_lists_are_fine():
    make_record("round_end", {"round": 1, "losses": [0.1, 0.2, 0.3]})
    make_record("aggregate", {**MINIMAL["aggregate"], "sites": [f"s{i}" for i in range(500)]})


def test_unknown_kind_and_non_dict_payload():
    with pytest.raises(DataError, match="kind"):
        make_record("telemetry", {})
    with pytest.raises(DataError, match="payload"):
        make_record("round_end", [("round", 1)])


def test_decode_refuses_altered_or_non_canonical_bytes():
    rec = make_record("round_end", {"round": 1}, ts_ms=3)
    with pytest.raises(DataError, match="canonical"):
        decode_record(rec.body.replace(b":", b": "))
    with pytest.raises(DataError, match="JSON"):
        decode_record(rec.body[:-1])
    with pytest.raises(DataError, match="schema_version"):
        decode_record(rec.body.replace(b'"schema_version":1', b'"schema_version":9'))
    with pytest.raises(DataError, match="envelope"):
        decode_record(b'{"kind":"round_end","payload":{"round":1},"schema_version":1,"x":1}')
    with pytest.raises(DataError):
        decode_record(b'{"kind":["x"],"payload":{},"schema_version":1}')
