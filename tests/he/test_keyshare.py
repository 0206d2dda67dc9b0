"""The CKKS secret key travels only sealed to site certificates: a corpus of tampered
and misaddressed key files, each refused with a clear error; and the CLI end to end."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

pytest.importorskip("tenseal")

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402

from fedshield.cli.main import main  # noqa: E402
from fedshield.errors import ConfigError, SecurityError, VerificationError  # noqa: E402
from fedshield.he import KeyOwner, encrypt_update  # noqa: E402
from fedshield.he.keyshare import (  # noqa: E402
    PublicKeyBundle, SealedKey, open_sealed_key, seal_key, sign_public_bundle, verify_public_bundle)
from fedshield.pki.ca import init_ca, issue_certificate  # noqa: E402


@dataclasses.dataclass
class Party:
    cert: x509.Certificate
    key: object
    paths: object


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    root = tmp_path_factory.mktemp("he-pki")
    init_ca(root / "ca")
    other = tmp_path_factory.mktemp("other-ca")
    init_ca(other)

    def party(ident, role="site", ca=root / "ca"):
        p = issue_certificate(ca, identity=ident, role=role, out_dir=root / "issued" / ca.name)
        return Party(x509.load_pem_x509_certificate(p.cert.read_bytes()),
                     serialization.load_pem_private_key(p.key.read_bytes(), password=None), p)

    ca = x509.load_pem_x509_certificate((root / "ca" / "ca.crt").read_bytes())
    return {"root": root, "ca": ca, "steward": party("cleveland"), "site": party("va"),
            "server": party("server", "server"), "outsider": party("va", ca=other)}


@pytest.fixture(scope="module")
def owner():
    return KeyOwner()


def _sealed(pki, owner, to="site"):
    s = pki["steward"]
    return seal_key(owner, recipient=pki[to].cert, ca_cert=pki["ca"], steward_cert=s.cert, steward_key=s.key)


def _open(pki, sealed, who="site"):
    return open_sealed_key(sealed, site_cert=pki[who].cert, site_key=pki[who].key, ca_cert=pki["ca"])


def test_a_sealed_key_opens_at_its_site_and_decrypts_what_the_public_key_encrypted(pki, owner):
    sealed = SealedKey.from_json(_sealed(pki, owner).to_json())  # as it travels
    mine = _open(pki, sealed)
    assert mine.key_id == owner.key_id
    bundle = PublicKeyBundle.from_json(sign_public_bundle(owner, steward_cert=pki["steward"].cert,
                                                          steward_key=pki["steward"].key).to_json())
    verify_public_bundle(bundle, ca_cert=pki["ca"])
    assert bundle.key_id == owner.key_id
    x = np.linspace(-1, 1, 50)
    enc = encrypt_update(bundle.context, x, weight=2.0, params=bundle.params, site_id="cleveland")
    mean, weight = mine.decrypt_mean(enc)
    np.testing.assert_allclose(mean, x, atol=1e-6)
    assert weight == pytest.approx(2.0)
    assert owner.secret_context()[:64] not in sealed.ciphertext  # sealed, not merely encoded


def _flip(data: bytes, at: int = 40) -> bytes:
    return data[:at] + bytes([data[at] ^ 1]) + data[at + 1:]


TAMPER = {
    "ciphertext": lambda s: dataclasses.replace(s, ciphertext=_flip(s.ciphertext)),
    "nonce": lambda s: dataclasses.replace(s, nonce=_flip(s.nonce, 3)),
    "ephemeral key": lambda s: dataclasses.replace(s, ephemeral_public=_flip(s.ephemeral_public, 10)),
    "signature": lambda s: dataclasses.replace(s, signature=_flip(s.signature, 20)),
    "key id": lambda s: dataclasses.replace(s, header={**s.header, "key_id": "0" * 64}),
    "re-addressed": lambda s: dataclasses.replace(s, header={**s.header, "recipient": "hungarian"}),
    "steward renamed": lambda s: dataclasses.replace(s, header={**s.header, "steward": "va"}),
}


@pytest.mark.parametrize("what", sorted(TAMPER))
def test_tampered_sealed_keys_are_refused(pki, owner, what):
    with pytest.raises(SecurityError):  # VerificationError is a SecurityError
        _open(pki, TAMPER[what](_sealed(pki, owner)))


def test_misaddressed_or_foreign_keys_are_refused(pki, owner):
    with pytest.raises(SecurityError, match="addressed to 'va'"):  # another site's file
        _open(pki, _sealed(pki, owner), who="steward")
    o = pki["outsider"]  # a site of the same name certified by another CA cannot act as steward
    foreign = seal_key(owner, recipient=pki["site"].cert, ca_cert=pki["ca"], steward_cert=o.cert, steward_key=o.key)
    with pytest.raises(VerificationError, match="consortium CA"):
        _open(pki, foreign)
    with pytest.raises(ConfigError, match="sites only"):  # never sealed to the coordinator
        _sealed(pki, owner, to="server")
    s = pki["server"]  # a coordinator that signs a key of its own
    forged = seal_key(owner, recipient=pki["site"].cert, ca_cert=pki["ca"], steward_cert=s.cert, steward_key=s.key)
    with pytest.raises(VerificationError, match="only a site may act as key steward"):
        _open(pki, forged)
    with pytest.raises(VerificationError, match="not JSON"):
        SealedKey.from_json("{not json")


def test_public_bundles_are_verified(pki, owner):
    st = pki["steward"]
    good = sign_public_bundle(owner, steward_cert=st.cert, steward_key=st.key)
    raw = json.loads(good.to_json())
    with pytest.raises(VerificationError, match="key_id does not match"):
        PublicKeyBundle.from_json(json.dumps({**raw, "key_id": "0" * 64}))
    other = KeyOwner()  # a swapped context under the old signature
    swapped = dataclasses.replace(good, context=other.public_context())
    with pytest.raises(VerificationError, match="not signed by the key steward"):
        verify_public_bundle(swapped, ca_cert=pki["ca"])
    leaky = dataclasses.replace(good, context=owner.secret_context())  # a secret key must never reach the server
    resigned = dataclasses.replace(leaky, signature=st.key.sign(leaky._signed(), ec.ECDSA(hashes.SHA256())))
    with pytest.raises(SecurityError, match="carries a secret key"):
        verify_public_bundle(resigned, ca_cert=pki["ca"])


def test_cli_writes_a_public_file_and_one_sealed_key_per_site(pki, tmp_path, capsys):
    st, site = pki["steward"].paths, pki["site"].paths
    ca = pki["root"] / "ca" / "ca.crt"
    args = ["he-keys", "--ca-cert", str(ca), "--cert", str(st.cert), "--key", str(st.key),
            "--site-cert", str(site.cert), "--out", str(tmp_path / "keys")]
    assert main(args) == 0
    files = sorted(p.name for p in (tmp_path / "keys").iterdir())
    assert files == ["cleveland.ckks-key.json", "public.ckks.json", "va.ckks-key.json"]
    assert ((tmp_path / "keys" / "va.ckks-key.json").stat().st_mode & 0o077) == 0
    bundle = PublicKeyBundle.from_json((tmp_path / "keys" / "public.ckks.json").read_text())
    verify_public_bundle(bundle, ca_cert=pki["ca"])
    mine = _open(pki, SealedKey.from_json((tmp_path / "keys" / "va.ckks-key.json").read_text()))
    assert mine.key_id == bundle.key_id
    assert main(args) == 2 and "already exist" in capsys.readouterr().err  # no silent key rotation
    bad = ["he-keys", "--ca-cert", str(ca), "--cert", str(st.cert), "--key", str(site.key), "--out",
           str(tmp_path / "k2")]
    assert main(bad) == 2 and "not the private key" in capsys.readouterr().err
    assert not (tmp_path / "k2").exists()  # nothing half-written
