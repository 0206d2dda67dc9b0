"""What the server sees, tampering, replay and the active-security stages."""

import dataclasses

import numpy as np
import pytest
from secagg_testkit import identities, make_config, make_parties, make_updates, make_weights, step_to_masked

from fedshield.errors import ProtocolError, VerificationError
from fedshield.secagg import (
    EncryptedShare,
    KeyRoster,
    MaskedInput,
    ShareInbox,
    SurvivorSignature,
    UnmaskRequest,
    UnmaskShares,
    run_secagg,
)
from fedshield.secagg.prg import expand_words

D = 4096


def _chi2_top_bits(vec: np.ndarray) -> float:
    counts = np.bincount(vec >> 28, minlength=16)
    expected = vec.size / 16
    return float(((counts - expected) ** 2 / expected).sum())


def _looks_masked(vec, update, weight, cfg) -> None:
    """Uniform over Z_2^32 and equal to neither rounding of the site's quantized update."""
    assert vec.dtype == np.uint32 and vec.shape == (cfg.dim_params + 1,)
    assert _chi2_top_bits(vec[1:]) < 60  # 15 dof, p < 1e-6 beyond
    levels = 2 ** (cfg.bits - 1) - 1
    scaled = weight / cfg.max_weight * np.clip(update.astype(np.float64), -cfg.clip_range, cfg.clip_range)
    scaled *= levels / cfg.clip_range
    for candidate in (np.floor(scaled), np.ceil(scaled)):
        assert np.mean(vec[1:] == candidate.astype(np.int64).astype(np.uint32)) < 0.01
    assert vec[0] != weight or np.mean(vec[1:] < 1 << 20) < 0.01


def test_every_vector_the_server_receives_is_masked():
    n = 8
    cfg = make_config(n=n, k=4, t=3, d=D)
    updates, weights = make_updates(n, D), make_weights(n)
    run = run_secagg(config=cfg, updates=updates, weights=weights, dropouts={"masked_input": {2}}, seed=3)
    vectors = run.transcript.masked_vectors()
    assert set(vectors) == set(range(n)) - {2}
    for cid, vec in vectors.items():
        _looks_masked(vec, updates[cid], weights[cid], cfg)
    # nothing else the server received carries a vector
    for _, _, msg in run.transcript.received:
        if not isinstance(msg, MaskedInput):
            assert not any(isinstance(v, np.ndarray) for v in vars(msg).values())


def _arrays(obj, seen=None):
    seen = seen if seen is not None else set()
    if id(obj) in seen:
        return
    seen.add(id(obj))
    if isinstance(obj, np.ndarray):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _arrays(v, seen)
    elif isinstance(obj, list | tuple | set | frozenset):
        for v in obj:
            yield from _arrays(v, seen)
    elif dataclasses.is_dataclass(obj) or hasattr(obj, "__dict__"):
        for v in vars(obj).values():
            yield from _arrays(v, seen)


def test_server_state_never_holds_an_unmasked_update():
    n = 6
    cfg = make_config(n=n, k=4, t=3, d=D)
    updates, weights = make_updates(n, D), make_weights(n)
    clients, server = make_parties(cfg, seed=5)
    inboxes = step_to_masked(cfg, clients, server, updates, weights)
    for c in cfg.client_ids:
        server.receive(clients[c].masked_input(inboxes[c], update=updates[c], weight=weights[c]))
        held = [a for a in _arrays(server) if a.size == D + 1]
        assert len(held) == 1  # only the running sum, never per-site vectors
        for u in range(c + 1):
            _looks_masked(held[0], updates[u], weights[u], cfg)
    requests = server.close_stage()
    for c, req in requests.items():
        server.receive(clients[c].unmask(req))
    server.close_stage()
    assert not [a for a in _arrays(server) if a.size >= D]


def _stage1(cfg, seed=0):
    clients, server = make_parties(cfg, seed=seed)
    inboxes = step_to_masked(cfg, clients, server, None, None)
    return clients, server, inboxes


def test_tampered_share_ciphertext_is_rejected():
    cfg = make_config(n=5, k=4, t=3)
    clients, _, inboxes = _stage1(cfg)
    first = inboxes[0].shares[0]
    flipped = bytes([first.ciphertext[0] ^ 1]) + first.ciphertext[1:]
    bad = ShareInbox(0, (dataclasses.replace(first, ciphertext=flipped),) + inboxes[0].shares[1:])
    with pytest.raises(VerificationError, match="failed authentication"):
        clients[0].masked_input(bad, update=np.zeros(cfg.dim_params), weight=1)


def test_rerouted_share_is_rejected():
    cfg = make_config(n=5, k=4, t=3)
    clients, _, inboxes = _stage1(cfg)
    foreign = next(s for s in inboxes[1].shares if s.sender_id != 0)
    forged = EncryptedShare(foreign.sender_id, 0, foreign.ciphertext)  # claim it was meant for 0
    rest = tuple(s for s in inboxes[0].shares if s.sender_id != foreign.sender_id)
    with pytest.raises(VerificationError):
        clients[0].masked_input(ShareInbox(0, rest + (forged,)), update=np.zeros(cfg.dim_params), weight=1)


def test_share_replayed_from_another_round_is_rejected():
    cfg_a = make_config(n=5, k=4, t=3, round_id=b"round-aaaa")
    cfg_b = make_config(n=5, k=4, t=3, round_id=b"round-bbbb")
    _, _, inbox_a = _stage1(cfg_a, seed=9)
    clients_b, _, inbox_b = _stage1(cfg_b, seed=9)  # same randomness, different round
    replay = ShareInbox(0, inbox_a[0].shares)
    with pytest.raises(VerificationError):
        clients_b[0].masked_input(replay, update=np.zeros(cfg_b.dim_params), weight=1)
    assert inbox_b[0].shares[0].ciphertext != inbox_a[0].shares[0].ciphertext


def test_low_order_public_key_is_rejected():
    cfg = make_config(n=4, k=3, t=3)
    clients, server = make_parties(cfg)
    adverts = {c: clients[c].advertise_keys() for c in cfg.client_ids}
    evil = dataclasses.replace(adverts[1], cipher_public_key=bytes(32))
    roster = KeyRoster(0, (evil, adverts[2], adverts[3]))
    with pytest.raises(VerificationError, match="low order|invalid"):
        clients[0].share_keys(roster)


def test_reused_public_key_is_rejected():
    cfg = make_config(n=4, k=3, t=3)
    clients, _ = make_parties(cfg)
    adverts = {c: clients[c].advertise_keys() for c in cfg.client_ids}
    copycat = dataclasses.replace(adverts[2], cipher_public_key=adverts[1].cipher_public_key)
    with pytest.raises(ProtocolError, match="reused public key"):
        clients[0].share_keys(KeyRoster(0, (adverts[1], copycat, adverts[3])))


def _through_unmask_requests(cfg, seed=0, ids=None):
    clients, server = make_parties(cfg, seed=seed, ids=ids)
    updates = make_updates(cfg.n_clients, cfg.dim_params)
    inboxes = step_to_masked(cfg, clients, server, updates, None)
    for c in cfg.client_ids:
        server.receive(clients[c].masked_input(inboxes[c], update=updates[c], weight=1))
    return clients, server, server.close_stage()


def test_corrupt_unmask_share_with_spare_shares_is_detected():
    cfg = make_config(n=6, k=5, t=4)
    clients, server, requests = _through_unmask_requests(cfg)
    replies = {c: clients[c].unmask(r) for c, r in requests.items()}
    owner, share = replies[0].seed_shares[1]
    bad = bytes([share[0] ^ 1]) + share[1:]
    replies[0] = dataclasses.replace(
        replies[0], seed_shares=((replies[0].seed_shares[0]), (owner, bad)) + replies[0].seed_shares[2:]
    )
    for r in replies.values():
        server.receive(r)
    with pytest.raises(VerificationError, match="inconsistent|commitment"):
        server.close_stage()


def test_corrupt_unmask_share_with_exactly_t_shares_is_detected():
    cfg = make_config(n=4, k=3, t=3)
    clients, server, requests = _through_unmask_requests(cfg)
    replies = {c: clients[c].unmask(r) for c, r in requests.items()}
    owner, share = replies[0].seed_shares[0]
    replies[0] = UnmaskShares(
        0, ((owner, bytes([share[0] ^ 1]) + share[1:]),) + replies[0].seed_shares[1:], ()
    )
    for c in (0, 1, 2):  # client 3 drops: every seed has exactly t = 3 shares left
        server.receive(replies[c])
    with pytest.raises(VerificationError, match="commitment"):
        server.close_stage()


def test_corrupt_mask_key_share_of_a_dropped_client_is_detected():
    cfg = make_config(n=5, k=4, t=3)
    clients, server = make_parties(cfg)
    updates = make_updates(5, cfg.dim_params)
    inboxes = step_to_masked(cfg, clients, server, updates, None)
    for c in (0, 1, 2, 3):  # client 4 drops after sharing keys
        server.receive(clients[c].masked_input(inboxes[c], update=updates[c], weight=1))
    requests = server.close_stage()
    replies = {c: clients[c].unmask(r) for c, r in requests.items()}
    owner, share = replies[0].key_shares[0]
    assert owner == 4
    replies[0] = dataclasses.replace(replies[0], key_shares=((owner, bytes([share[0] ^ 1]) + share[1:]),))
    for c in (0, 1, 2):
        server.receive(replies[c])
    with pytest.raises(VerificationError, match="does not match its advert"):
        server.close_stage()


def test_masks_use_the_whole_key_not_a_32_bit_fold():
    # Flower 1.42 XOR-folds the key into 32 bits; keys with equal folds collide there.
    k1 = bytes(range(32))
    k2 = bytes([k1[0] ^ 0xFF]) + k1[1:4] + bytes([k1[4] ^ 0xFF]) + k1[5:]
    fold = lambda k: np.bitwise_xor.reduce(np.frombuffer(k, dtype="<u4"))  # noqa: E731
    assert fold(k1) == fold(k2)
    assert np.mean(expand_words(k1, n_words=256) == expand_words(k2, n_words=256)) < 0.05


# -- active security: signed adverts and the consistency check ----------------------------
def test_active_security_round_with_dropouts_at_every_stage():
    n = 10
    ids = identities(n)
    cfg = make_config(n=n, k=8, t=5, d=32, identities=ids)
    updates, weights = make_updates(n, 32), make_weights(n)
    drops = {"advertise_keys": {0}, "share_keys": {1}, "masked_input": {2}, "consistency_check": {3}}
    run = run_secagg(config=cfg, updates=updates, weights=weights, dropouts=drops, identity_keys=ids, seed=4)
    assert run.result.survivor_ids == (3, 4, 5, 6, 7, 8, 9)
    from secagg_testkit import exact_mean

    exact = exact_mean(updates, weights, run.result.survivor_ids, cfg.clip_range)
    assert np.abs(run.result.mean - exact).max() <= run.result.error_bound


def test_forged_advert_signature_is_rejected_by_server_and_clients():
    ids = identities(4)
    cfg = make_config(n=4, k=3, t=3, identities=ids)
    clients, server = make_parties(cfg, ids=ids)
    adverts = {c: clients[c].advertise_keys() for c in cfg.client_ids}
    forged = dataclasses.replace(adverts[1], mask_public_key=adverts[0].mask_public_key[::-1])
    with pytest.raises(VerificationError, match="key advert"):
        server.receive(forged)
    with pytest.raises(VerificationError, match="key advert"):
        clients[0].share_keys(KeyRoster(0, (forged, adverts[2], adverts[3])))


def _through_consistency(n=6, k=5, t=4):
    ids = identities(n)
    cfg = make_config(n=n, k=k, t=t, identities=ids)
    clients, server, survivor_lists = _through_unmask_requests(cfg, ids=ids)
    return cfg, clients, server, survivor_lists


def test_server_equivocating_on_survivors_is_refused():
    cfg, clients, server, lists = _through_consistency()
    sigs = {c: clients[c].consistency_check(lst) for c, lst in lists.items()}
    for s in sigs.values():
        server.receive(s)
    requests = server.close_stage()
    other_view = tuple(c for c in requests[0].survivor_ids if c != 5)
    with pytest.raises(ProtocolError, match="equivocating"):
        clients[0].unmask(UnmaskRequest(0, other_view, requests[0].signatures))


def test_tampered_consistency_signature_is_rejected():
    cfg, clients, server, lists = _through_consistency()
    sigs = {c: clients[c].consistency_check(lst) for c, lst in lists.items()}
    bad = SurvivorSignature(1, bytes([sigs[1].signature[0] ^ 1]) + sigs[1].signature[1:])
    with pytest.raises(VerificationError, match="survivor list"):
        server.receive(bad)
    for s in sigs.values():
        server.receive(s)
    requests = server.close_stage()
    tampered = tuple((c, s if c != 2 else bytes(64)) for c, s in requests[0].signatures)
    with pytest.raises(VerificationError, match="survivor list"):
        clients[0].unmask(UnmaskRequest(0, requests[0].survivor_ids, tampered))


def test_too_few_consistency_signatures_are_refused():
    cfg, clients, server, lists = _through_consistency()
    sigs = {c: clients[c].consistency_check(lst) for c, lst in lists.items()}
    for s in sigs.values():
        server.receive(s)
    requests = server.close_stage()
    few = requests[0].signatures[:2]
    with pytest.raises(ProtocolError, match="signed the survivor set"):
        clients[0].unmask(UnmaskRequest(0, requests[0].survivor_ids, few))
