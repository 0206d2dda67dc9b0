import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fedshield.errors import ProtocolError, VerificationError
from fedshield.secagg import shamir
from fedshield.secagg.prg import seeded_random_bytes

secret_ints = st.integers(min_value=0, max_value=(1 << 256) - 1)


@settings(max_examples=40, deadline=None)
@given(
    secrets=st.lists(secret_ints, min_size=1, max_size=4),
    n=st.integers(min_value=1, max_value=8),
    data=st.data(),
)
def test_any_t_shares_reconstruct(secrets, n, data):
    t = data.draw(st.integers(min_value=1, max_value=n))
    holders = data.draw(st.lists(st.integers(0, 1 << 40), min_size=n, max_size=n, unique=True))
    xs = [h + 1 for h in holders]
    shares = shamir.split(secrets, xs=xs, threshold=t, random_bytes=seeded_random_bytes(n))
    subset = data.draw(st.lists(st.integers(0, n - 1), min_size=t, max_size=n, unique=True))
    got = shamir.reconstruct(
        np.array([[xs[j] for j in subset]] * len(secrets), dtype=object),
        np.array([[shares[j, i] for j in subset] for i in range(len(secrets))], dtype=object),
        threshold=t,
    )
    assert got == secrets


def test_every_subset_of_size_t_reconstructs_exhaustively():
    secret = int.from_bytes(bytes(range(32)), "little")
    xs = [1, 2, 3, 4, 5, 6]
    shares = shamir.split([secret], xs=xs, threshold=4, random_bytes=seeded_random_bytes(1))
    for subset in itertools.combinations(range(6), 4):
        got = shamir.reconstruct(
            np.array([[xs[j] for j in subset]], dtype=object),
            np.array([[shares[j, 0] for j in subset]], dtype=object),
            threshold=4,
        )
        assert got == [secret]


def test_fewer_than_t_shares_raise_with_counts():
    shares = shamir.split([42], xs=[1, 2, 3, 4], threshold=3, random_bytes=seeded_random_bytes(2))
    with pytest.raises(ProtocolError, match="Only 2 shares survived but 3 are needed"):
        shamir.reconstruct(
            np.array([[1, 2]], dtype=object),
            np.array([[shares[0, 0], shares[1, 0]]], dtype=object),
            threshold=3,
        )


def test_corrupted_extra_share_is_detected():
    xs = [1, 2, 3, 4, 5]
    shares = shamir.split([99], xs=xs, threshold=3, random_bytes=seeded_random_bytes(4))
    ys = [shares[j, 0] for j in range(5)]
    ys[4] = (ys[4] + 1) % shamir.PRIME
    with pytest.raises(VerificationError, match="inconsistent"):
        shamir.reconstruct(np.array([xs], dtype=object), np.array([ys], dtype=object), threshold=3)


def test_share_encoding_round_trip_and_rejects_garbage():
    value = shamir.PRIME - 5
    assert shamir.decode_share(shamir.encode_share(value)) == value
    with pytest.raises(ProtocolError):
        shamir.decode_share(b"\xff" * shamir.SHARE_BYTES)
    with pytest.raises(ProtocolError):
        shamir.decode_share(b"\x00" * 5)


def test_split_rejects_bad_points_and_thresholds():
    rb = seeded_random_bytes(5)
    with pytest.raises(ProtocolError):
        shamir.split([1], xs=[1, 1], threshold=1, random_bytes=rb)
    with pytest.raises(ProtocolError):
        shamir.split([1], xs=[0, 1], threshold=1, random_bytes=rb)
    with pytest.raises(ProtocolError):
        shamir.split([1], xs=[1, 2], threshold=3, random_bytes=rb)
