"""The server (coordinator) side of SecAgg+, as an explicit state machine.

Why it never holds an individual update: masked inputs are added into one
running uint32 sum the moment they arrive and the message is not kept; the
only vector ever unmasked is that sum. Each stage is driven the same way by
any transport: ``receive(msg)`` for every reply that arrives before the
deadline, then ``close_stage()`` to get the next messages (keyed by client id)
or, after unmasking, the ``AggregateResult``. Clients that did not answer in
time are dropouts; the round fails closed (``ProtocolError``) only when some
client's secrets no longer have ``threshold`` surviving share holders.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from fedshield.errors import ProtocolError, VerificationError
from fedshield.secagg import crypto, shamir
from fedshield.secagg.client import pair_mask_key, self_mask_key
from fedshield.secagg.config import SecAggConfig
from fedshield.secagg.messages import (
    AggregateResult,
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
from fedshield.secagg.prg import add_masks
from fedshield.secagg.quantize import decode, mean_error_bound

__all__ = ["SecAggServer"]

_MESSAGE_STAGE = {
    KeyAdvert: Stage.ADVERTISE_KEYS,
    ShareBundle: Stage.SHARE_KEYS,
    MaskedInput: Stage.MASKED_INPUT,
    SurvivorSignature: Stage.CONSISTENCY_CHECK,
    UnmaskShares: Stage.UNMASK,
}


class SecAggServer:
    """Coordinates one round; create a fresh object per round."""

    def __init__(self, *, config: SecAggConfig) -> None:
        self.config = config
        self._graph = {c: frozenset(v) for c, v in config.neighbours.items()}
        self._stage = Stage.ADVERTISE_KEYS
        self._adverts: dict[int, KeyAdvert] = {}
        self._bundles: dict[int, ShareBundle] = {}
        self._commitments: dict[int, bytes] = {}
        self._sum: np.ndarray | None = None
        self._u3: set[int] = set()
        self._signatures: dict[int, bytes] = {}
        self._seed_shares: dict[int, dict[int, bytes]] = defaultdict(dict)
        self._key_shares: dict[int, dict[int, bytes]] = defaultdict(dict)
        self._answered: set[int] = set()

    @property
    def stage(self) -> Stage:
        return self._stage

    # -- generic entry points for transports ---------------------------------------
    def receive(self, msg: object) -> None:
        """Take one client reply. A reply that fails validation raises (``ProtocolError`` or
        ``VerificationError``) and leaves the state untouched; treat its sender as dropped."""
        handler = {
            KeyAdvert: self.receive_advert,
            ShareBundle: self.receive_share_bundle,
            MaskedInput: self.receive_masked_input,
            SurvivorSignature: self.receive_survivor_signature,
            UnmaskShares: self.receive_unmask_shares,
        }.get(type(msg))
        if handler is None:
            raise ProtocolError(
                f"The SecAgg server cannot handle a {type(msg).__name__}; send a stage message."
            )
        handler(msg)

    def close_stage(self) -> dict[int, object] | AggregateResult:
        closer = {
            Stage.ADVERTISE_KEYS: self.close_advertise_keys,
            Stage.SHARE_KEYS: self.close_share_keys,
            Stage.MASKED_INPUT: self.close_masked_input,
            Stage.CONSISTENCY_CHECK: self.close_consistency_check,
            Stage.UNMASK: self.close_unmask,
        }.get(self._stage)
        if closer is None:
            raise ProtocolError("The SecAgg round is over; start a new round with a fresh server.")
        return closer()

    def _accept(self, msg: object, sender: int, allowed: set[int] | dict, seen: set[int] | dict) -> None:
        stage = _MESSAGE_STAGE[type(msg)]
        if self._stage is not stage:
            raise ProtocolError(
                f"A {type(msg).__name__} from client {sender} arrived during stage {self._stage.value!r}; "
                "it is late or out of order and is ignored by failing this call."
            )
        if sender not in allowed:
            raise ProtocolError(f"Client {sender} is not an active participant of stage {stage.value!r}.")
        if sender in seen:
            raise ProtocolError(
                f"Client {sender} already answered stage {stage.value!r}; duplicates are rejected."
            )

    def _prune(self, alive: set[int]) -> set[int]:
        """Drop clients whose secrets could never be recovered (< t live holders), until stable."""
        t = self.config.threshold
        changed = True
        while changed:
            changed = False
            for c in sorted(alive):
                if len(self._graph[c] & alive) + 1 < t:
                    alive.discard(c)
                    changed = True
        return alive

    # -- stage 0: advertise keys ---------------------------------------------------
    def receive_advert(self, msg: KeyAdvert) -> None:
        cfg = self.config
        self._accept(msg, msg.client_id, self._graph, self._adverts)
        if len(msg.cipher_public_key) != 32 or len(msg.mask_public_key) != 32:
            raise ProtocolError(f"Client {msg.client_id}'s advert must carry two 32-byte X25519 keys.")
        if cfg.active_security:
            crypto.verify(
                cfg.identity_public_keys[msg.client_id],
                msg.signature,
                crypto.advert_payload(
                    config_digest=cfg.digest,
                    client_id=msg.client_id,
                    cipher_pk=msg.cipher_public_key,
                    mask_pk=msg.mask_public_key,
                ),
                what=f"client {msg.client_id}'s key advert",
            )
        self._adverts[msg.client_id] = msg

    def close_advertise_keys(self) -> dict[int, KeyRoster]:
        self._require(Stage.ADVERTISE_KEYS)
        self._u1 = self._prune(set(self._adverts))
        self._fail_if_empty(self._u1, len(self._adverts), "advertised keys")
        self._stage = Stage.SHARE_KEYS
        return {
            c: KeyRoster(c, tuple(self._adverts[v] for v in sorted(self._graph[c] & self._u1)))
            for c in sorted(self._u1)
        }

    # -- stage 1: share keys -------------------------------------------------------
    def receive_share_bundle(self, msg: ShareBundle) -> None:
        self._accept(msg, msg.client_id, self._u1, self._bundles)
        expected = self._graph[msg.client_id] & self._u1
        recipients = [s.recipient_id for s in msg.shares]
        if any(s.sender_id != msg.client_id for s in msg.shares) or sorted(recipients) != sorted(expected):
            raise ProtocolError(
                f"Client {msg.client_id} must send exactly one share to each live neighbour "
                f"{sorted(expected)}; got recipients {sorted(recipients)}."
            )
        if len(msg.seed_commitment) != 32:
            raise ProtocolError(f"Client {msg.client_id}'s share bundle needs a 32-byte seed commitment.")
        self._bundles[msg.client_id] = msg
        self._commitments[msg.client_id] = msg.seed_commitment

    def close_share_keys(self) -> dict[int, ShareInbox]:
        self._require(Stage.SHARE_KEYS)
        self._u2 = self._prune(set(self._bundles))
        self._fail_if_empty(self._u2, len(self._bundles), "shared their keys")
        inbox: dict[int, list] = {c: [] for c in self._u2}
        for sender in sorted(self._u2):
            for share in self._bundles[sender].shares:
                if share.recipient_id in self._u2:
                    inbox[share.recipient_id].append(share)
        self._bundles.clear()
        self._stage = Stage.MASKED_INPUT
        return {c: ShareInbox(c, tuple(items)) for c, items in inbox.items()}

    # -- stage 2: masked input -----------------------------------------------------
    def receive_masked_input(self, msg: MaskedInput) -> None:
        self._accept(msg, msg.client_id, self._u2, self._u3)
        vec = msg.masked
        if (
            not isinstance(vec, np.ndarray)
            or vec.dtype != np.uint32
            or vec.shape != (self.config.dim_params + 1,)
        ):
            raise ProtocolError(
                f"Client {msg.client_id}'s masked input must be a uint32 array of shape "
                f"({self.config.dim_params + 1},); got {getattr(vec, 'dtype', type(vec))} "
                f"{getattr(vec, 'shape', '')}."
            )
        if self._sum is None:
            self._sum = vec.copy()
        else:
            np.add(self._sum, vec, out=self._sum)
        self._u3.add(msg.client_id)

    def close_masked_input(self) -> dict[int, SurvivorList] | dict[int, UnmaskRequest]:
        self._require(Stage.MASKED_INPUT)
        self._fail_if_empty(self._u3, len(self._u3), "sent masked inputs")
        self._check_recoverable(self._u3)
        survivors = tuple(sorted(self._u3))
        if self.config.active_security:
            self._stage = Stage.CONSISTENCY_CHECK
            return {c: SurvivorList(c, survivors) for c in survivors}
        self._u4 = set(self._u3)
        self._stage = Stage.UNMASK
        return {c: UnmaskRequest(c, survivors) for c in survivors}

    # -- stage 3: consistency check (active security) ------------------------------
    def receive_survivor_signature(self, msg: SurvivorSignature) -> None:
        cfg = self.config
        self._accept(msg, msg.client_id, self._u3, self._signatures)
        payload = crypto.survivors_payload(config_digest=cfg.digest, survivor_ids=self._u3)
        crypto.verify(
            cfg.identity_public_keys[msg.client_id],
            msg.signature,
            payload,
            what=f"client {msg.client_id}'s survivor list",
        )
        self._signatures[msg.client_id] = msg.signature

    def close_consistency_check(self) -> dict[int, UnmaskRequest]:
        self._require(Stage.CONSISTENCY_CHECK)
        self._u4 = set(self._signatures)
        self._check_recoverable(self._u4)
        survivors = tuple(sorted(self._u3))
        sigs = tuple(sorted(self._signatures.items()))
        self._stage = Stage.UNMASK
        return {c: UnmaskRequest(c, survivors, sigs) for c in sorted(self._u4)}

    # -- stage 4: unmask -----------------------------------------------------------
    def receive_unmask_shares(self, msg: UnmaskShares) -> None:
        holder = msg.client_id
        self._accept(msg, holder, self._u4, self._answered)
        owners_ok = (self._graph[holder] & self._u2) | {holder}
        for owner, _ in msg.seed_shares:
            if owner not in owners_ok or owner not in self._u3:
                raise ProtocolError(
                    f"Client {holder} sent a seed share of {owner}, which it cannot hold or is dropped."
                )
        for owner, _ in msg.key_shares:
            if owner not in owners_ok or owner in self._u3:
                raise ProtocolError(
                    f"Client {holder} sent a key share of {owner}, which it cannot hold or survived."
                )
        for owner, share in msg.seed_shares:
            self._seed_shares[owner][holder] = share
        for owner, share in msg.key_shares:
            self._key_shares[owner][holder] = share
        self._answered.add(holder)

    def close_unmask(self) -> AggregateResult:
        self._require(Stage.UNMASK)
        cfg = self.config
        survivors = sorted(self._u3)
        dropped = sorted(v for v in self._u2 - self._u3 if self._graph[v] & self._u3)
        seeds = self._reconstruct(survivors, self._seed_shares, "self-mask seed")
        keys = self._reconstruct(dropped, self._key_shares, "mask key")
        for u in survivors:
            if crypto.seed_commitment(seeds[u], config_digest=cfg.digest, owner=u) != self._commitments[u]:
                raise VerificationError(
                    f"The self-mask seed reconstructed for client {u} does not match its commitment; "
                    "some shares were corrupted. Aborting the round."
                )
        sub = [self_mask_key(seeds[u], config=cfg, owner=u) for u in survivors]
        add: list[bytes] = []
        for v in dropped:
            if crypto.x25519_public(keys[v]) != self._adverts[v].mask_public_key:
                raise VerificationError(
                    f"The mask key reconstructed for dropped client {v} does not match its advert; "
                    "some shares were corrupted. Aborting the round."
                )
            for w in sorted(self._graph[v] & self._u3):
                shared = crypto.agree(keys[v], self._adverts[w].mask_public_key)
                # w added the pair mask when w < v and subtracted it otherwise; undo that.
                (sub if w < v else add).append(pair_mask_key(shared, config=cfg, a=v, b=w))
        total = add_masks(self._sum, add_keys=add, sub_keys=sub)
        mean, weight_total = decode(
            total, max_weight=cfg.max_weight, clip_range=cfg.clip_range, bits=cfg.bits
        )
        self._sum = None
        self._seed_shares.clear()
        self._key_shares.clear()
        self._stage = Stage.DONE
        bound = mean_error_bound(
            clip_range=cfg.clip_range,
            bits=cfg.bits,
            n_clients=len(survivors),
            total_weight=weight_total,
            max_weight=cfg.max_weight,
        )
        all_dropped = tuple(sorted(set(cfg.client_ids) - self._u3))
        return AggregateResult(mean, weight_total, tuple(survivors), all_dropped, bound)

    def _reconstruct(
        self, owners: list[int], shares: dict[int, dict[int, bytes]], what: str
    ) -> dict[int, bytes]:
        """Batch owners by share count so each batch is one vectorized Lagrange step."""
        t = self.config.threshold
        batches: dict[int, list[int]] = defaultdict(list)
        for owner in owners:
            have = len(shares.get(owner, {}))
            if have < t:
                raise ProtocolError(
                    f"Only {have} shares of client {owner}'s {what} survived but {t} are needed; "
                    "too many clients dropped during unmasking, so the round fails closed. "
                    "Retry the round, or use a larger degree or a lower threshold."
                )
            batches[have].append(owner)
        out: dict[int, bytes] = {}
        for batch in batches.values():
            xs = np.array([[h + 1 for h in sorted(shares[o])] for o in batch], dtype=object)
            ys = np.array(
                [[shamir.decode_share(shares[o][h]) for h in sorted(shares[o])] for o in batch], dtype=object
            )
            for owner, secret in zip(batch, shamir.reconstruct(xs, ys, threshold=t), strict=True):
                if secret >= 1 << 256:
                    raise ProtocolError(
                        f"Client {owner}'s reconstructed {what} is out of range; shares were corrupted."
                    )
                out[owner] = secret.to_bytes(32, "little")
        return out

    # -- helpers -------------------------------------------------------------------
    def _require(self, stage: Stage) -> None:
        if self._stage is not stage:
            raise ProtocolError(
                f"The server is at stage {self._stage.value!r}, not {stage.value!r}; close stages in order."
            )

    def _fail_if_empty(self, alive: set[int], responded: int, what: str) -> None:
        if not alive:
            t = self.config.threshold
            raise ProtocolError(
                f"Only {responded} of {self.config.n_clients} clients {what}, and none of them has the "
                f"{t - 1} live neighbours needed (threshold {t} share holders including itself); "
                "too many dropouts, so the round fails closed. Retry the round, or use a larger "
                "degree or a lower threshold."
            )

    def _check_recoverable(self, online: set[int]) -> None:
        """Fail before unmasking if some needed secret already has fewer than t live holders."""
        t = self.config.threshold
        for c in sorted(self._u2):
            if c not in self._u3 and not self._graph[c] & self._u3:
                continue  # dropped with no surviving neighbour: its masks never entered the sum
            holders = (self._graph[c] & self._u2 & online) | ({c} & online)
            if len(holders) < t:
                what = "self-mask seed" if c in self._u3 else "mask key"
                raise ProtocolError(
                    f"Only {len(holders)} holders of client {c}'s {what} are still online but {t} are "
                    "needed to remove its masks; the round fails closed. Retry the round, or use a "
                    "larger degree or a lower threshold."
                )
