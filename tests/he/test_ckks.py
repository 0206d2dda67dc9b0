"""CKKS aggregation: the sum decrypts to the weighted mean; the server never holds a secret key."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tenseal")

from fedshield.errors import ConfigError, ProtocolError, SecurityError  # noqa: E402
from fedshield.he import CkksParams, HeAggregator, KeyOwner, encrypt_update  # noqa: E402


@pytest.fixture(scope="module")
def owner() -> KeyOwner:
    return KeyOwner()


def test_encrypted_sum_decrypts_to_weighted_mean(owner):
    rng = np.random.default_rng(0)
    d = 5000  # spans two ciphertext chunks (4096 slots each)
    updates = [rng.normal(0, 0.1, d) for _ in range(4)]
    weights = [30.0, 120.0, 7.0, 64.0]
    public = owner.public_context()
    server = HeAggregator(public)
    for i, (x, w) in enumerate(zip(updates, weights)):
        enc = encrypt_update(public, x, weight=w, site_id=f"site-{i}")
        assert len(enc.chunks) == 2
        server.add(enc)
    mean, total = owner.decrypt_mean(server.result(), expected_contributors=4, contributors=len(server.contributors))
    expected = sum(w * x for x, w in zip(updates, weights)) / sum(weights)
    assert abs(total - sum(weights)) < 1e-4
    assert np.abs(mean - expected).max() < 1e-6


def test_server_context_is_public_only_and_private_context_is_refused(owner):
    import tenseal as ts

    public = owner.public_context()
    ctx = ts.context_from(public)
    assert not ctx.has_secret_key() and ctx.is_public()
    enc = encrypt_update(public, np.ones(10), weight=1.0, site_id="a")
    vec = ts.lazy_ckks_vector_from(enc.chunks[0])
    vec.link_context(ctx)
    with pytest.raises(Exception):  # no secret key: the server cannot decrypt
        vec.decrypt()
    private = owner._ctx.serialize(save_secret_key=True)
    with pytest.raises(SecurityError, match="secret key"):
        HeAggregator(private)


def test_key_owner_refuses_to_decrypt_a_single_sites_ciphertext(owner):
    public = owner.public_context()
    server = HeAggregator(public)
    server.add(encrypt_update(public, np.ones(8), weight=2.0, site_id="a"))
    with pytest.raises(SecurityError, match="Refusing to decrypt"):
        owner.decrypt_mean(server.result(), expected_contributors=3, contributors=1)


def test_mismatched_or_duplicate_updates_are_rejected(owner):
    public = owner.public_context()
    server = HeAggregator(public)
    server.add(encrypt_update(public, np.ones(8), weight=1.0, site_id="a"))
    with pytest.raises(ProtocolError, match="expects"):
        server.add(encrypt_update(public, np.ones(5000), weight=1.0, site_id="b"))
    with pytest.raises(ProtocolError, match="already contributed"):
        server.add(encrypt_update(public, np.ones(8), weight=1.0, site_id="a"))


def test_values_beyond_ckks_headroom_are_refused(owner):
    with pytest.raises(ConfigError, match="headroom"):
        encrypt_update(owner.public_context(), np.full(4, 1e4), weight=100.0)
    with pytest.raises(ConfigError, match="poly_modulus_degree"):
        CkksParams(poly_modulus_degree=1000)
