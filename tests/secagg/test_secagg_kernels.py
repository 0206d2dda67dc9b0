"""PRG, quantization and graph kernels."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fedshield.errors import ConfigError, ProtocolError
from fedshield.secagg import prg
from fedshield.secagg.graph import default_degree, neighbour_graph
from fedshield.secagg.quantize import decode, encode, max_bits, mean_error_bound


# -- PRG ------------------------------------------------------------------------------
def test_prg_is_deterministic_per_key_and_differs_across_keys():
    a = prg.expand_words(b"\x01" * 32, n_words=1000)
    assert np.array_equal(a, prg.expand_words(b"\x01" * 32, n_words=1000))
    assert np.mean(a == prg.expand_words(b"\x02" * 32, n_words=1000)) < 0.01
    assert np.array_equal(prg.expand_words(b"\x01" * 32, n_words=10), a[:10])


def test_prg_requires_a_full_256_bit_key():
    with pytest.raises(ValueError, match="32 bytes"):
        prg.expand_words(b"\x01" * 4, n_words=8)


def test_prg_words_look_uniform():
    words = prg.expand_words(b"\x07" * 32, n_words=1 << 16)
    counts = np.bincount(words >> 28, minlength=16)
    expected = words.size / 16
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < 60  # 15 dof; p < 1e-6 beyond this


def test_add_masks_matches_plain_arithmetic_across_chunk_boundaries(monkeypatch):
    monkeypatch.setattr(prg, "_CHUNK_WORDS", 7)
    k1, k2 = b"\x03" * 32, b"\x04" * 32
    base = np.arange(50, dtype=np.uint32)
    want = base + prg.expand_words(k1, n_words=50) - prg.expand_words(k2, n_words=50)
    got = prg.add_masks(base.copy(), add_keys=[k1], sub_keys=[k2])
    assert np.array_equal(got, want)


def test_pairwise_masks_cancel_over_a_graph():
    ids = list(range(9))
    graph = neighbour_graph(ids, degree=4, seed=b"s" * 16)
    acc = np.zeros(257, dtype=np.uint32)
    for u in ids:
        for v in graph[u]:
            key = bytes([min(u, v), max(u, v)]) * 16
            prg.add_masks(acc, **({"add_keys": [key]} if u < v else {"sub_keys": [key]}))
    assert not acc.any()


def test_seeded_random_bytes_replays_and_separates_labels():
    a, b = prg.seeded_random_bytes(1, label=b"x"), prg.seeded_random_bytes(1, label=b"x")
    assert a(40) == b(40) and a(8) == b(8)
    assert prg.seeded_random_bytes(1, label=b"y")(40) != prg.seeded_random_bytes(1, label=b"x")(40)


# -- quantization ---------------------------------------------------------------------
def _uniform(d, seed=0):
    return prg.expand_words(bytes([seed]) * 32, n_words=d)


@settings(max_examples=50, deadline=None)
@given(
    n=st.integers(1, 12),
    d=st.integers(1, 40),
    clip=st.floats(0.01, 100.0),
    seed=st.integers(0, 200),
    data=st.data(),
)
def test_sum_of_encodings_decodes_to_weighted_mean_within_bound(n, d, clip, seed, data):
    bits = data.draw(st.integers(2, max_bits(n)))
    max_weight = data.draw(st.integers(1, 1000))
    rng = np.random.default_rng(seed)
    xs = [rng.uniform(-2 * clip, 2 * clip, d) for _ in range(n)]
    ws = [int(w) for w in rng.integers(0, max_weight + 1, n)]
    ws[0] = max(ws[0], 1)
    total = np.zeros(d + 1, dtype=np.uint32)
    for i, (x, w) in enumerate(zip(xs, ws, strict=True)):
        total += encode(
            x,
            weight=w,
            max_weight=max_weight,
            clip_range=clip,
            bits=bits,
            uniform_words=_uniform(d, (seed + i) % 256),
        )
    mean, weight_total = decode(total, max_weight=max_weight, clip_range=clip, bits=bits)
    exact = sum(w * np.clip(x, -clip, clip) for x, w in zip(xs, ws, strict=True)) / sum(ws)
    bound = mean_error_bound(
        clip_range=clip, bits=bits, n_clients=n, total_weight=weight_total, max_weight=max_weight
    )
    assert weight_total == sum(ws)
    assert np.abs(mean - exact).max() <= bound * (1 + 1e-9)


def test_extreme_values_do_not_overflow():
    n, clip, max_weight = 16, 3.0, 7
    bits = max_bits(n)
    for sign in (1.0, -1.0):
        total = np.zeros(5, dtype=np.uint32)
        for i in range(n):
            total += encode(
                np.full(4, sign * 1e9),
                weight=max_weight,
                max_weight=max_weight,
                clip_range=clip,
                bits=bits,
                uniform_words=_uniform(4, i),
            )
        mean, _ = decode(total, max_weight=max_weight, clip_range=clip, bits=bits)
        assert np.allclose(mean, sign * clip)


def test_stochastic_rounding_is_unbiased():
    d, clip, bits = 20000, 1.0, 4  # coarse grid: step 1/7
    x = np.full(d, 0.05)
    q = encode(x, weight=1, max_weight=1, clip_range=clip, bits=bits, uniform_words=_uniform(d, 9))
    values = q[1:].view(np.int32) * (clip / 7)
    assert abs(values.mean() - 0.05) < 0.003


def test_zero_total_weight_fails_closed():
    total = np.zeros(3, dtype=np.uint32)
    with pytest.raises(ProtocolError, match="total weight is 0"):
        decode(total, max_weight=1, clip_range=1.0, bits=8)


def test_encode_rejects_weight_out_of_range():
    with pytest.raises(ConfigError, match="weight"):
        encode(np.zeros(2), weight=5, max_weight=4, clip_range=1.0, bits=8, uniform_words=_uniform(2))


# -- graph ----------------------------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(n=st.integers(2, 40), data=st.data())
def test_graph_is_k_regular_symmetric_and_loop_free(n, data):
    k = data.draw(st.integers(1, n - 1).filter(lambda k: not (k % 2 and n % 2)))
    ids = data.draw(st.lists(st.integers(0, 10**6), min_size=n, max_size=n, unique=True))
    graph = neighbour_graph(ids, degree=k, seed=b"seed" * 4)
    assert set(graph) == set(ids)
    for u, nbrs in graph.items():
        assert len(set(nbrs)) == k and u not in nbrs
        assert all(u in graph[v] for v in nbrs)


def test_graph_depends_only_on_public_seed():
    ids = list(range(30))
    g1 = neighbour_graph(ids, degree=6, seed=b"a" * 16)
    assert g1 == neighbour_graph(list(reversed(ids)), degree=6, seed=b"a" * 16)
    assert g1 != neighbour_graph(ids, degree=6, seed=b"b" * 16)


def test_complete_graph_is_classic_secagg():
    graph = neighbour_graph(range(7), degree=6, seed=b"c" * 16)
    assert all(set(v) == set(range(7)) - {u} for u, v in graph.items())


def test_odd_degree_with_odd_n_is_rejected_with_a_fix():
    with pytest.raises(ConfigError, match="even"):
        neighbour_graph(range(7), degree=3, seed=b"c" * 16)


def test_default_degree_grows_logarithmically():
    assert default_degree(2) == 1
    assert default_degree(12) == 11
    assert default_degree(1000) < 40
