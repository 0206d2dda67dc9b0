"""A real consortium PKI in a temp folder, and an in-process mTLS server."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from fedshield.net import fedshield_pb2_grpc as pb_grpc
from fedshield.net.auth import Authenticator
from fedshield.net.client import channel
from fedshield.net.coordinator import Coordinator
from fedshield.net.interceptors import AccessInterceptor
from fedshield.net.service import FedShieldService, build_server, server_credentials
from fedshield.pki.ca import issue_certificate, init_ca
from fedshield.pki.enrollment import body_for, create_admins, load_admin_key, sign_body
from fedshield.rbac.policy import load_policy
from cryptography import x509

HEART_SITES = ["cleveland", "hungarian", "switzerland", "va"]


@dataclass
class Consortium:
    dir: Path
    admin_keys: list[Path]

    def issue(self, ident: str, role: str = "site", **kw):
        return issue_certificate(self.dir, identity=ident, role=role, out_dir=self.dir / "issued", **kw)

    def enroll(self, ident: str, cert: Path, legal_entity: str | None = None, admins: int = 2):
        from fedshield.cli.ca import registry_of

        body = body_for(x509.load_pem_x509_certificate(cert.read_bytes()), legal_entity or f"{ident} hospital")
        assert body["identity"] == ident
        sigs = [sign_body(body, *load_admin_key(k)) for k in self.admin_keys[:admins]]
        return registry_of(self.dir).append(body, sigs)

    def creds(self, ident: str) -> dict:
        d = self.dir / "issued"
        return {"ca_cert": (self.dir / "ca.crt").read_bytes(), "cert": (d / f"{ident}.crt").read_bytes(),
                "key": (d / f"{ident}.key").read_bytes()}


def make_consortium(root: Path, sites=HEART_SITES) -> Consortium:
    init_ca(root)
    con = Consortium(root, create_admins(root, 3, 2))
    con.issue("server", "server", hosts=("127.0.0.1", "localhost"))
    for ident, role in [*[(s, "site") for s in sites], ("coord", "coordinator"), ("audit", "auditor")]:
        p = con.issue(ident, role)
        con.enroll(ident, p.cert)
    return con


@pytest.fixture(scope="module")
def consortium(tmp_path_factory) -> Consortium:
    return make_consortium(tmp_path_factory.mktemp("pki"))


@dataclass
class LiveServer:
    port: int
    coordinator: Coordinator
    interceptor: AccessInterceptor
    server: grpc.Server

    def stub(self, con: Consortium, ident: str, **kw):
        ch = channel(f"127.0.0.1:{self.port}", **con.creds(ident), **kw)
        return pb_grpc.FedShieldStub(ch), ch


@pytest.fixture(scope="module")
def live_server(consortium):
    coord = Coordinator(run_id="run-test", scenario_sha256="x", num_params=1000,
                        expected_sites=HEART_SITES + ["coord", "audit"])
    auth = Authenticator(ca_cert=consortium.dir / "ca.crt", crl=consortium.dir / "crl.pem",
                         admins=consortium.dir / "admins.json", registry=consortium.dir / "registry.jsonl")
    inter = AccessInterceptor(auth, load_policy(None), rate_per_s=1000, burst=1000)
    svc = FedShieldService(coord, chunk_limit=64 * 1024)
    d = consortium.dir / "issued"
    creds = server_credentials(ca_cert=(consortium.dir / "ca.crt").read_bytes(),
                               cert=(d / "server.crt").read_bytes(), key=(d / "server.key").read_bytes())
    server, port = build_server(svc, inter, address="127.0.0.1:0", creds=creds, max_message_bytes=1 << 20,
                                max_workers=8)
    server.start()
    yield LiveServer(port, coord, inter, server)
    server.stop(grace=None).wait(5)
