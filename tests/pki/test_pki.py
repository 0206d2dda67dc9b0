"""CA, certificates, revocation and the m-of-n enrollment registry."""

from __future__ import annotations

import datetime as dt
import json
import stat

import pytest
from cryptography import x509

from fedshield.cli.ca import registry_of
from fedshield.errors import AuthorizationError, ConfigError, VerificationError
from fedshield.pki.ca import init_ca, issue_certificate
from fedshield.pki.enrollment import body_for, create_admins, load_admin_key, sign_body
from fedshield.pki.identity import identity_of, verify_chain
from fedshield.pki.revocation import RevocationList, revoke


@pytest.fixture
def ca(tmp_path):
    init_ca(tmp_path)
    create_admins(tmp_path, 3, 2)
    return tmp_path


def _cert(p):
    return x509.load_pem_x509_certificate(p.read_bytes())


def test_issue_identity_and_key_mode(ca):
    p = issue_certificate(ca, identity="cleveland", role="site", hours=1)
    assert stat.S_IMODE(p.key.stat().st_mode) == 0o600
    assert stat.S_IMODE((ca / "ca.key").stat().st_mode) == 0o600
    ident = identity_of(_cert(p.cert))
    assert (ident.subject_id, ident.role) == ("cleveland", "site")
    verify_chain(_cert(p.cert), _cert(ca / "ca.crt"))
    with pytest.raises(ConfigError):
        issue_certificate(ca, identity="Bad Id!", role="site")
    with pytest.raises(ConfigError):
        issue_certificate(ca, identity="x", role="root")
    with pytest.raises(ConfigError, match="already exists"):
        init_ca(ca)


def test_expired_and_foreign_certificates_fail(ca, tmp_path):
    past = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=2)
    p = issue_certificate(ca, identity="old", role="site", hours=1, not_before=past)
    with pytest.raises(VerificationError, match="validity window"):
        verify_chain(_cert(p.cert), _cert(ca / "ca.crt"))
    other = tmp_path / "other"
    init_ca(other)
    q = issue_certificate(other, identity="old", role="site")
    with pytest.raises(VerificationError, match="consortium CA"):
        verify_chain(_cert(q.cert), _cert(ca / "ca.crt"))


def test_revocation_reloads_on_change(ca):
    p = issue_certificate(ca, identity="h1", role="site")
    crl = RevocationList(ca / "crl.pem", _cert(ca / "ca.crt"))
    serial = _cert(p.cert).serial_number
    assert not crl.is_revoked(serial)
    revoke(ca, p.cert)
    assert crl.is_revoked(serial)
    (ca / "crl.pem").write_bytes(b"garbage")
    with pytest.raises(Exception):
        crl.is_revoked(serial)  # an unreadable CRL fails closed


def _enroll(ca, ident, entity, keys):
    p = issue_certificate(ca, identity=ident, role="site", out_dir=ca / "issued" / ident)
    body = body_for(_cert(p.cert), entity)
    return p, body, [sign_body(body, *load_admin_key(k)) for k in keys]


def test_enrollment_threshold_sybil_and_tamper_evidence(ca):
    keys = sorted((ca / "admins").glob("*.key"))
    reg = registry_of(ca)
    p, body, sigs = _enroll(ca, "h1", "Hospital One", keys[:1])
    with pytest.raises(VerificationError, match="2 are required"):
        reg.append(body, sigs)
    with pytest.raises(VerificationError, match="2 are required"):
        reg.append(body, sigs + sigs)  # the same admin twice counts once
    reg.append(body, sigs + [sign_body(body, *load_admin_key(keys[1]))])
    reg.check("h1", "site", body["cert_fingerprint"], body["key_fingerprint"])
    renewed = issue_certificate(ca, identity="h1", role="site", out_dir=ca / "issued" / "h1", renew_key=p.key)
    rb = body_for(_cert(renewed.cert), "x")
    assert rb["cert_fingerprint"] != body["cert_fingerprint"] and rb["key_fingerprint"] == body["key_fingerprint"]
    reg.check("h1", "site", rb["cert_fingerprint"], rb["key_fingerprint"])  # renewal: same key, admitted
    _, body2, sigs2 = _enroll(ca, "h1b", "Hospital One", keys[:2])
    with pytest.raises(AuthorizationError, match="Sybil"):
        reg.append(body2, sigs2)
    with pytest.raises(AuthorizationError, match="Sybil"):
        reg.check("h1", "site", "f" * 64, "e" * 64)
    with pytest.raises(AuthorizationError, match="not enrolled"):
        reg.check("nobody", "site", "f" * 64)
    _, body3, sigs3 = _enroll(ca, "h2", "Hospital Two", keys[1:])
    head = reg.append(body3, sigs3)
    assert registry_of(ca).verify() == head
    lines = (ca / "registry.jsonl").read_text().splitlines()
    rec = json.loads(lines[0])
    rec["legal_entity"] = "Evil Corp"
    (ca / "registry.jsonl").write_text("\n".join([json.dumps(rec, sort_keys=True), lines[1]]) + "\n")
    with pytest.raises(VerificationError):
        registry_of(ca).verify()
    (ca / "registry.jsonl").write_text(lines[1] + "\n")  # dropping a record breaks the chain
    with pytest.raises(VerificationError, match="chain"):
        registry_of(ca).verify()


def test_cli_round_trip(tmp_path, capsys):
    from fedshield.net.__main__ import main

    d = str(tmp_path / "pki")
    assert main(["ca", "init", "--dir", d, "--admins", "3", "--threshold", "2"]) == 0
    assert main(["ca", "issue", "--dir", d, "--site", "va", "--role", "site", "--hours", "2"]) == 0
    assert main(["ca", "enroll", "--dir", d, "--site", "va", "--cert", f"{d}/issued/va.crt", "--legal-entity", "VA",
                 "--admin-key", f"{d}/admins/admin1.key", "--admin-key", f"{d}/admins/admin3.key"]) == 0
    assert main(["ca", "verify", "--dir", d]) == 0
    assert main(["ca", "revoke", "--dir", d, "--cert", f"{d}/issued/va.crt"]) == 0
    assert main(["ca", "issue", "--dir", d, "--site", "va", "--role", "site", "--host", "x"]) == 2
