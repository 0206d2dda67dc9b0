"""The corpus of refused calls: each gets its specific error, is logged, and
the server keeps serving honest sites afterwards."""

from __future__ import annotations

import datetime as dt
import logging

import grpc
import numpy as np
import pytest

from fedshield.net import fedshield_pb2 as pb
from fedshield.net import fedshield_pb2_grpc as pb_grpc
from fedshield.net.client import fetch_task, signed_update, update_stream
from fedshield.pki.ca import init_ca, issue_certificate
from fedshield.pki.revocation import revoke
from fedshield.net.client import load_key


D = 1000


@pytest.fixture(autouse=True)
def _server_still_serves(live_server, consortium):
    yield
    stub, ch = live_server.stub(consortium, "audit")
    assert stub.Status(pb.Empty(), timeout=10).run_id == "run-test"
    ch.close()


def _code(fn):
    with pytest.raises(grpc.RpcError) as info:
        fn()
    return info.value.code(), info.value.details() or ""


def _open_task(live, con, site, rnd, params=None):
    stub, ch = live.stub(con, site)
    stub.Join(pb.Empty(), timeout=10)
    live.coordinator.post("fit", rnd, [site], parameters=np.zeros(D, np.float32) if params is None else params,
                          config={})
    task = fetch_task(stub, wait_s=2, timeout=10)
    assert task.kind == pb.Task.FIT and task.round == rnd
    return stub, ch, task


def _update(con, site, task, delta=None, **over):
    delta = np.full(D, 0.01, np.float32) if delta is None else delta
    header, data = signed_update(load_key(con.dir / "issued" / f"{site}.key"), identity=site, task=task,
                                 delta=delta, num_examples=10, metrics={"train_loss": 0.5})
    for k, v in over.items():
        setattr(header, k, v)
    return header, data


def test_honest_update_is_counted_then_replay_refused(live_server, consortium, caplog):
    stub, ch, task = _open_task(live_server, consortium, "cleveland", 1)
    header, data = _update(consortium, "cleveland", task)
    ack = stub.SubmitUpdate(update_stream(header, data, 4096), timeout=10)
    assert ack.accepted
    out = live_server.coordinator.collect("fit", 1, ["cleveland"], timeout_s=5, dead_after_s=60)
    assert out[0].num_examples == 10 and np.allclose(out[0].delta, 0.01)
    with caplog.at_level(logging.WARNING):
        code, msg = _code(lambda: stub.SubmitUpdate(update_stream(header, data, 4096), timeout=10))
    assert code == grpc.StatusCode.PERMISSION_DENIED and "Replayed" in msg
    assert any("Replayed" in r.getMessage() for r in caplog.records)
    ch.close()


BAD_UPDATES = [
    ("tampered_signature", "signature does not verify"),
    ("tampered_bytes", "do not match its declared hash"),
    ("wrong_round", "cross-round"),
    ("stale_model", "stale update"),
    ("wrong_run", "is for run"),
    ("wrong_shape", "Wrong-shape"),
    ("nan", "NaN"),
    ("bad_nonce", "unknown nonce"),
]


@pytest.mark.parametrize("case,expect", BAD_UPDATES)
def test_bad_updates_refused(live_server, consortium, case, expect, caplog):
    # One round per case, fixed: hash(case) changes with PYTHONHASHSEED and two cases could share a round.
    rnd = 100 + 10 * [c for c, _ in BAD_UPDATES].index(case)
    stub, ch, task = _open_task(live_server, consortium, "hungarian", rnd)
    delta = np.full(D, 0.01, np.float32)
    if case == "nan":
        delta[3] = np.nan
    header, data = _update(consortium, "hungarian", task, delta)
    if case == "tampered_signature":
        header.signature = header.signature[:-2] + bytes([header.signature[-2] ^ 1, header.signature[-1]])
    elif case == "tampered_bytes":
        data = b"\x00" * 4 + data[4:]
    elif case == "wrong_round":
        header.round = rnd + 1
    elif case == "stale_model":
        header.model_sha256 = "0" * 64
    elif case == "wrong_run":
        header.run_id = "another-run"
    elif case == "wrong_shape":
        header.num_params = D - 1
    elif case == "bad_nonce":
        header.nonce = b"\x01" * 16
    with caplog.at_level(logging.WARNING):
        code, msg = _code(lambda: stub.SubmitUpdate(update_stream(header, data, 4096), timeout=10))
    assert code == grpc.StatusCode.PERMISSION_DENIED, (code, msg)
    assert expect in msg
    assert any(expect in r.getMessage() for r in caplog.records)
    # the open task survives a refused attempt: the honest retry still counts
    header, data = _update(consortium, "hungarian", task)
    assert stub.SubmitUpdate(update_stream(header, data, 4096), timeout=10).accepted
    ch.close()


def test_oversized_chunk_and_message_refused(live_server, consortium):
    stub, ch, task = _open_task(live_server, consortium, "va", 7)
    header, data = _update(consortium, "va", task)
    assert stub.SubmitUpdate(update_stream(header, data, 4000), timeout=10).accepted  # small chunks are fine
    live_server.coordinator.post("fit", 8, ["va"], parameters=np.zeros(D, np.float32), config={})
    task = fetch_task(stub, wait_s=2, timeout=10)
    header, data = _update(consortium, "va", task)
    big = data * 20  # one 80 KB chunk > the 64 KB chunk cap
    code, msg = _code(lambda: stub.SubmitUpdate(iter([pb.UpdateChunk(header=header), pb.UpdateChunk(data=big)]),
                                                timeout=10))
    assert code == grpc.StatusCode.PERMISSION_DENIED and "chunk cap" in msg
    huge = pb.EvalResult(labels_npy=b"\x00" * (2 << 20))  # > the 1 MiB message limit
    code, msg = _code(lambda: stub.SubmitEval(huge, timeout=10))
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    ch.close()


def test_malformed_protobuf_refused_and_logged(live_server, consortium):
    _, ch = live_server.stub(consortium, "cleveland")
    raw = ch.unary_unary("/fedshield.net.FedShield/SubmitEval", request_serializer=lambda b: b,
                         response_deserializer=lambda b: b)
    code, _ = _code(lambda: raw(b"\xff\xff\xff\xff\x0f garbage", timeout=10))
    assert code != grpc.StatusCode.OK
    assert any("malformed protobuf" in d["reason"] for d in live_server.interceptor.decisions)
    unknown = ch.unary_unary("/fedshield.net.FedShield/DropTables", request_serializer=lambda b: b,
                             response_deserializer=lambda b: b)
    code, msg = _code(lambda: unknown(b"", timeout=10))
    assert code == grpc.StatusCode.UNIMPLEMENTED and "unknown RPC" in msg
    ch.close()


def test_rbac_site_cannot_coordinate_and_auditor_cannot_submit(live_server, consortium):
    stub, ch = live_server.stub(consortium, "switzerland")
    code, msg = _code(lambda: stub.Start(pb.Empty(), timeout=10))
    assert code == grpc.StatusCode.PERMISSION_DENIED and "may not call Start" in msg
    ch.close()
    stub, ch = live_server.stub(consortium, "audit")
    code, msg = _code(lambda: stub.SubmitUpdate(iter([pb.UpdateChunk(data=b"x")]), timeout=10))
    assert code == grpc.StatusCode.PERMISSION_DENIED and "may not call SubmitUpdate" in msg
    assert stub.Status(pb.Empty(), timeout=10).run_id == "run-test"
    ch.close()
    stub, ch = live_server.stub(consortium, "coord")
    assert stub.Status(pb.Empty(), timeout=10).state == "waiting"
    ch.close()
    denied = [d for d in live_server.interceptor.decisions if not d["allowed"]]
    assert {"switzerland", "audit"} <= {d["identity"] for d in denied}


def test_identity_refusals(live_server, consortium, tmp_path):
    # not enrolled
    consortium.issue("stranger")
    stub, ch = live_server.stub(consortium, "stranger")
    code, msg = _code(lambda: stub.Join(pb.Empty(), timeout=10))
    assert code == grpc.StatusCode.PERMISSION_DENIED and "not enrolled" in msg
    ch.close()
    # a second certificate for an enrolled institution (Sybil)
    sybil = issue_certificate(consortium.dir, identity="cleveland", role="site", out_dir=tmp_path / "sybil")
    from fedshield.net.client import channel

    ch = channel(f"127.0.0.1:{live_server.port}", ca_cert=(consortium.dir / "ca.crt").read_bytes(),
                 cert=sybil.cert.read_bytes(), key=sybil.key.read_bytes())
    code, msg = _code(lambda: pb_grpc.FedShieldStub(ch).Join(pb.Empty(), timeout=10))
    assert code == grpc.StatusCode.PERMISSION_DENIED and "Sybil" in msg
    ch.close()
    # enrollment of the same legal entity under a new identity is refused at the registry
    from fedshield.errors import AuthorizationError

    p = consortium.issue("cleveland2")
    with pytest.raises(AuthorizationError, match="Sybil"):
        consortium.enroll("cleveland2", p.cert, legal_entity="cleveland hospital")
    # revoked, picked up without restarting the server
    p = consortium.issue("revokee")
    consortium.enroll("revokee", p.cert)
    stub, ch = live_server.stub(consortium, "revokee")
    stub.Heartbeat(pb.Empty(), timeout=10)
    revoke(consortium.dir, p.cert)
    code, msg = _code(lambda: stub.Heartbeat(pb.Empty(), timeout=10))
    assert code == grpc.StatusCode.PERMISSION_DENIED and "revoked" in msg
    ch.close()
    reasons = " ".join(d["reason"] for d in live_server.interceptor.decisions)
    assert "not enrolled" in reasons and "Sybil" in reasons and "revoked" in reasons


def _handshake_refused(port, **creds):
    from fedshield.net.client import channel

    ch = channel(f"127.0.0.1:{port}", **creds) if "cert" in creds else grpc.secure_channel(
        f"127.0.0.1:{port}", grpc.ssl_channel_credentials(root_certificates=creds["ca_cert"]))
    code, _ = _code(lambda: pb_grpc.FedShieldStub(ch).Status(pb.Empty(), timeout=5))
    ch.close()
    return code


def test_tls_refusals(live_server, consortium, tmp_path):
    ca = (consortium.dir / "ca.crt").read_bytes()
    # no client certificate
    assert _handshake_refused(live_server.port, ca_cert=ca) == grpc.StatusCode.UNAVAILABLE
    # a certificate from another CA
    other = tmp_path / "other"
    init_ca(other)
    p = issue_certificate(other, identity="cleveland", role="site")
    assert _handshake_refused(live_server.port, ca_cert=ca, cert=p.cert.read_bytes(),
                              key=p.key.read_bytes()) == grpc.StatusCode.UNAVAILABLE
    # expired
    past = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=3)
    p = issue_certificate(consortium.dir, identity="expired", role="site", out_dir=tmp_path / "exp", hours=1,
                          not_before=past)
    consortium.enroll("expired", p.cert)
    assert _handshake_refused(live_server.port, ca_cert=ca, cert=p.cert.read_bytes(),
                              key=p.key.read_bytes()) == grpc.StatusCode.UNAVAILABLE
    # plaintext
    ch = grpc.insecure_channel(f"127.0.0.1:{live_server.port}")
    code, _ = _code(lambda: pb_grpc.FedShieldStub(ch).Status(pb.Empty(), timeout=5))
    assert code == grpc.StatusCode.UNAVAILABLE
    ch.close()


def test_malformed_evaluation_refused(live_server, consortium):
    from fedshield.messages import EvaluateRes
    from fedshield.net.client import signed_eval

    stub, ch = live_server.stub(consortium, "cleveland")
    stub.Join(pb.Empty(), timeout=10)
    key = load_key(consortium.dir / "issued" / "cleveland.key")
    for rnd, (labels, scores, n, expect) in enumerate([
        (np.array([0, 1, 1]), np.array([0.1, 0.9]), 3, "must all match"),
        (np.array([0, 1]), np.array([0.1, 7.0]), 2, "probabilities"),
    ], start=500):
        live_server.coordinator.post("evaluate", rnd, ["cleveland"], parameters=np.zeros(D, np.float32), config={})
        task = fetch_task(stub, wait_s=2, timeout=10)
        res = EvaluateRes("cleveland", rnd, n, {"accuracy": 0.5}, labels, scores)
        code, msg = _code(lambda: stub.SubmitEval(signed_eval(key, identity="cleveland", task=task, res=res),
                                                  timeout=10))
        assert code == grpc.StatusCode.PERMISSION_DENIED and expect in msg
        ok = EvaluateRes("cleveland", rnd, 2, {"accuracy": 0.5}, np.array([0, 1]), np.array([0.2, 0.8]))
        assert stub.SubmitEval(signed_eval(key, identity="cleveland", task=task, res=ok), timeout=10).accepted
    ch.close()
