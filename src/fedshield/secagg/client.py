"""The client (hospital) side of SecAgg+, as an explicit state machine.

Why a state machine: each stage may run once, in order. Answering an unmask
request twice, or for a peer it has already called alive, would let a server
collect both the self-mask seed and the mask key of one client and strip its
update bare. Secrets are dropped as soon as the round ends.
"""

from __future__ import annotations

import os

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fedshield.errors import ProtocolError, param_error
from fedshield.secagg import crypto, shamir
from fedshield.secagg.config import SecAggConfig
from fedshield.secagg.messages import (
    EncryptedShare,
    KeyAdvert,
    KeyRoster,
    MaskedInput,
    ShareBundle,
    ShareInbox,
    Stage,
    SurvivorList,
    SurvivorSignature,
    UnmaskRequest,
    UnmaskShares,
)
from fedshield.secagg.prg import RandomBytes, add_masks, expand_words
from fedshield.secagg.quantize import encode

__all__ = ["SecAggClient", "self_mask_key", "pair_mask_key"]


def self_mask_key(seed: bytes, *, config: SecAggConfig, owner: int) -> bytes:
    return crypto.derive_key(seed, purpose=b"self-mask", config_digest=config.digest, ids=(owner,))


def pair_mask_key(shared: bytes, *, config: SecAggConfig, a: int, b: int) -> bytes:
    return crypto.derive_key(shared, purpose=b"pair-mask", config_digest=config.digest, ids=sorted((a, b)))


def _share_key(shared: bytes, *, config: SecAggConfig, sender: int, receiver: int) -> bytes:
    return crypto.derive_key(
        shared, purpose=b"share-enc", config_digest=config.digest, ids=(sender, receiver)
    )


class SecAggClient:
    """One site's role in one round; create a fresh object per round."""

    def __init__(
        self,
        *,
        client_id: int,
        config: SecAggConfig,
        identity_key: Ed25519PrivateKey | bytes | None = None,
        random_bytes: RandomBytes = os.urandom,
    ) -> None:
        if client_id not in config.neighbours:
            raise param_error("client_id", "SecAggClient", f"one of {config.client_ids}", client_id)
        if config.active_security and identity_key is None:
            raise param_error(
                "identity_key",
                "SecAggClient",
                "this site's Ed25519 key (the config enrols identity keys)",
                None,
            )
        self.client_id = client_id
        self.config = config
        self._identity = identity_key
        self._random_bytes = random_bytes
        self._neighbours = frozenset(config.neighbours[client_id])
        self._stage = Stage.ADVERTISE_KEYS
        self._peers: dict[int, KeyAdvert] = {}
        self._held: dict[int, tuple[bytes, bytes]] = {}  # owner -> (seed share, key share)

    @property
    def stage(self) -> Stage:
        return self._stage

    def _expect(self, stage: Stage, msg: object = None, kind: type | None = None) -> None:
        if self._stage is not stage:
            raise ProtocolError(
                f"Client {self.client_id} is at stage {self._stage.value!r} but was asked for "
                f"{stage.value!r}; stages run once, in order. Start a new round with a fresh client."
            )
        if kind is not None and not isinstance(msg, kind):
            raise ProtocolError(
                f"Client {self.client_id} expected a {kind.__name__} at stage {stage.value!r}, "
                f"got {type(msg).__name__}."
            )
        recipient = getattr(msg, "recipient_id", self.client_id)
        if recipient != self.client_id:
            raise ProtocolError(
                f"Client {self.client_id} received a message addressed to client {recipient}; "
                "the server misrouted it."
            )

    # -- stage 0 -----------------------------------------------------------------
    def advertise_keys(self) -> KeyAdvert:
        self._expect(Stage.ADVERTISE_KEYS)
        self._cipher_sk, cipher_pk = crypto.x25519_keypair(self._random_bytes)
        self._mask_sk, mask_pk = crypto.x25519_keypair(self._random_bytes)
        signature = b""
        if self.config.active_security:
            signature = crypto.sign(
                self._identity,
                crypto.advert_payload(
                    config_digest=self.config.digest,
                    client_id=self.client_id,
                    cipher_pk=cipher_pk,
                    mask_pk=mask_pk,
                ),
            )
        self._own_advert = KeyAdvert(self.client_id, cipher_pk, mask_pk, signature)
        self._stage = Stage.SHARE_KEYS
        return self._own_advert

    # -- stage 1 -----------------------------------------------------------------
    def share_keys(self, roster: KeyRoster) -> ShareBundle:
        self._expect(Stage.SHARE_KEYS, roster, KeyRoster)
        cfg, me = self.config, self.client_id
        seen_keys = {self._own_advert.cipher_public_key, self._own_advert.mask_public_key}
        for advert in roster.adverts:
            peer = advert.client_id
            if peer not in self._neighbours or peer in self._peers:
                raise ProtocolError(
                    f"Client {me} got an advert from {peer}, which is not a (new) neighbour in this "
                    "round's public graph; the server is misbehaving. Aborting."
                )
            if cfg.active_security:
                crypto.verify(
                    cfg.identity_public_keys[peer],
                    advert.signature,
                    crypto.advert_payload(
                        config_digest=cfg.digest,
                        client_id=peer,
                        cipher_pk=advert.cipher_public_key,
                        mask_pk=advert.mask_public_key,
                    ),
                    what=f"client {peer}'s key advert",
                )
            keys = {advert.cipher_public_key, advert.mask_public_key}
            if len(keys) != 2 or keys & seen_keys:
                raise ProtocolError(
                    f"Client {peer} advertised a reused public key; aborting (replay or forgery)."
                )
            seen_keys |= keys
            self._peers[peer] = advert
        self._need(len(self._peers) + 1, "neighbours advertised keys")

        holders = sorted(self._peers) + [me]
        self._seed = self._random_bytes(32)
        secrets = [int.from_bytes(self._seed, "little"), int.from_bytes(self._mask_sk, "little")]
        shares = shamir.split(
            secrets, xs=[h + 1 for h in holders], threshold=cfg.threshold, random_bytes=self._random_bytes
        )
        out = []
        for row, holder in enumerate(holders):
            plaintext = shamir.encode_share(shares[row, 0]) + shamir.encode_share(shares[row, 1])
            if holder == me:
                self._held[me] = (plaintext[: shamir.SHARE_BYTES], plaintext[shamir.SHARE_BYTES :])
                continue
            shared = crypto.agree(self._cipher_sk, self._peers[holder].cipher_public_key)
            key = _share_key(shared, config=cfg, sender=me, receiver=holder)
            aad = crypto.share_aad(config_digest=cfg.digest, sender=me, receiver=holder)
            out.append(EncryptedShare(me, holder, crypto.seal(key, plaintext, aad=aad)))
        self._stage = Stage.MASKED_INPUT
        commitment = crypto.seed_commitment(self._seed, config_digest=cfg.digest, owner=me)
        return ShareBundle(me, tuple(out), commitment)

    # -- stage 2 -----------------------------------------------------------------
    def masked_input(self, inbox: ShareInbox, *, update: np.ndarray, weight: int) -> MaskedInput:
        """Quantize ``update`` (flat, ``dim_params`` floats) times ``weight`` and mask it."""
        self._expect(Stage.MASKED_INPUT, inbox, ShareInbox)
        cfg, me = self.config, self.client_id
        x = np.asarray(update)
        if x.shape != (cfg.dim_params,) or not np.issubdtype(x.dtype, np.floating):
            raise param_error(
                "update", "SecAggClient.masked_input", f"a float array of shape ({cfg.dim_params},)", x.shape
            )
        if not np.isfinite(x).all():
            raise param_error(
                "update", "SecAggClient.masked_input", "finite (no NaN/inf)", "non-finite values"
            )
        w = self._check_weight(weight)
        mask_peers: list[int] = []
        for item in inbox.shares:
            src = item.sender_id
            if item.recipient_id != me or src not in self._peers or src in self._held:
                raise ProtocolError(
                    f"Client {me} got a share from {src} that it cannot accept (unknown sender, "
                    "duplicate, or addressed elsewhere); the server is misbehaving. Aborting."
                )
            shared = crypto.agree(self._cipher_sk, self._peers[src].cipher_public_key)
            key = _share_key(shared, config=cfg, sender=src, receiver=me)
            aad = crypto.share_aad(config_digest=cfg.digest, sender=src, receiver=me)
            plaintext = crypto.open_sealed(key, item.ciphertext, aad=aad, what=f"the share from client {src}")
            if len(plaintext) != 2 * shamir.SHARE_BYTES:
                raise ProtocolError(f"The share from client {src} has the wrong length; aborting.")
            self._held[src] = (plaintext[: shamir.SHARE_BYTES], plaintext[shamir.SHARE_BYTES :])
            mask_peers.append(src)
        self._need(len(mask_peers) + 1, "neighbours shared their keys")

        uniform = expand_words(self._random_bytes(32), n_words=cfg.dim_params)
        masked = encode(
            x,
            weight=w,
            max_weight=cfg.max_weight,
            clip_range=cfg.clip_range,
            bits=cfg.bits,
            uniform_words=uniform,
        )
        del uniform
        add, sub = [self_mask_key(self._seed, config=cfg, owner=me)], []
        for peer in mask_peers:
            shared = crypto.agree(self._mask_sk, self._peers[peer].mask_public_key)
            (add if me < peer else sub).append(pair_mask_key(shared, config=cfg, a=me, b=peer))
        add_masks(masked, add_keys=add, sub_keys=sub)
        self._stage = Stage.CONSISTENCY_CHECK if cfg.active_security else Stage.UNMASK
        return MaskedInput(me, masked)

    def _check_weight(self, weight: int) -> int:
        value = weight
        if isinstance(weight, float | np.floating) and float(weight).is_integer():
            value = int(weight)
        if not isinstance(value, int | np.integer) or not 0 <= value <= self.config.max_weight:
            raise param_error(
                "weight",
                "SecAggClient.masked_input",
                f"an integer in [0, {self.config.max_weight}] (scale fractional weights to integers)",
                weight,
            )
        return int(value)

    def _need(self, have: int, what: str) -> None:
        if have < self.config.threshold:
            raise ProtocolError(
                f"Client {self.client_id}: only {have - 1} {what} (plus itself = {have}); "
                f"{self.config.threshold} are needed. The round cannot protect this site; it stops here."
            )

    # -- stage 3 (active security only) -------------------------------------------
    def consistency_check(self, request: SurvivorList) -> SurvivorSignature:
        self._expect(Stage.CONSISTENCY_CHECK, request, SurvivorList)
        survivors = self._check_survivors(request.survivor_ids)
        self._signed = survivors
        payload = crypto.survivors_payload(config_digest=self.config.digest, survivor_ids=survivors)
        self._stage = Stage.UNMASK
        return SurvivorSignature(self.client_id, crypto.sign(self._identity, payload))

    def _check_survivors(self, survivor_ids: tuple[int, ...]) -> tuple[int, ...]:
        survivors = tuple(sorted(set(survivor_ids)))
        if len(survivors) != len(survivor_ids) or not set(survivors) <= set(self.config.client_ids):
            raise ProtocolError(
                "The survivor list has duplicates or unknown clients; the server is misbehaving."
            )
        if self.client_id not in survivors:
            raise ProtocolError(
                f"Client {self.client_id} sent its masked input but the server lists it as dropped; "
                "refusing to reveal shares (this could expose its own update)."
            )
        return survivors

    # -- stage 4 -----------------------------------------------------------------
    def unmask(self, request: UnmaskRequest) -> UnmaskShares:
        """Reveal, per neighbour, the seed share if it survived, else the key share; never both."""
        self._expect(Stage.UNMASK, request, UnmaskRequest)
        cfg = self.config
        survivors = self._check_survivors(request.survivor_ids)
        if cfg.active_security:
            self._check_signatures(survivors, request.signatures)
        alive = set(survivors)
        seeds = tuple((owner, s) for owner, (s, _) in sorted(self._held.items()) if owner in alive)
        keys = tuple((owner, k) for owner, (_, k) in sorted(self._held.items()) if owner not in alive)
        self._forget()
        return UnmaskShares(self.client_id, seeds, keys)

    def _check_signatures(
        self, survivors: tuple[int, ...], signatures: tuple[tuple[int, bytes], ...]
    ) -> None:
        cfg = self.config
        if survivors != self._signed:
            raise ProtocolError(
                f"Client {self.client_id} signed one survivor set but is asked to unmask for another; "
                "the server is equivocating. Aborting without revealing shares."
            )
        payload = crypto.survivors_payload(config_digest=cfg.digest, survivor_ids=survivors)
        signers = set()
        for signer, signature in signatures:
            if signer not in survivors or signer in signers:
                raise ProtocolError(
                    f"A consistency signature from {signer} is duplicated or from a non-survivor."
                )
            crypto.verify(
                cfg.identity_public_keys[signer], signature, payload, what=f"client {signer}'s survivor list"
            )
            signers.add(signer)
        local = len(signers & (self._neighbours | {self.client_id}))
        if local < cfg.threshold:
            raise ProtocolError(
                f"Client {self.client_id}: only {local} of its neighbourhood signed the survivor set, "
                f"{cfg.threshold} are needed; refusing to unmask."
            )

    def _forget(self) -> None:
        self._held.clear()
        self._seed = self._mask_sk = self._cipher_sk = b""
        self._stage = Stage.DONE
