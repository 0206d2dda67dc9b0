"""``AuditSink``: the one object the round engine talks to.

Why buffered: each SQLite commit with ``synchronous=FULL`` costs an fsync, so
events of a round are validated immediately (bad input fails at the call
site) but written, with the head that seals them, as one transaction at
``end_round``. Rare administrative events that precede an act
(``run_config``, ``enrollment``, ``revocation``, ``model_release``) are
flushed at once, so the record is durable before the act happens.
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from fedshield.errors import ConfigError, SecurityError, VerificationError, param_error
from fedshield.ledger.heads import SignedTreeHead
from fedshield.ledger.keys import key_fingerprint, load_signing_key
from fedshield.ledger.records import Record, make_record
from fedshield.ledger.store import LedgerStore

__all__ = ["AuditSink"]

FLUSH_NOW_KINDS = frozenset({"run_config", "enrollment", "revocation", "model_release"})
MAX_BUFFER = 4096


def _now_ms() -> int:
    return int(time.time() * 1000)


def _locked(method):
    """One caller at a time: the round engine and the network service's access
    interceptor (gRPC worker threads) share one sink and one SQLite connection."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with self._lock:
            return method(self, *args, **kwargs)

    return wrapper


class AuditSink:
    """Append validated events and sign a tree head after every round."""

    def __init__(
        self, store: LedgerStore, *, signing_key: Ed25519PrivateKey, clock: Callable[[], int] = _now_ms
    ) -> None:
        self.store = store
        self._key = signing_key
        self._clock = clock
        self._pending: list[Record] = []
        self._closed = False
        self._lock = threading.RLock()

    @classmethod
    def open(
        cls,
        path: str | os.PathLike,
        *,
        signing_key: Ed25519PrivateKey | str | os.PathLike,
        create: bool = True,
        clock: Callable[[], int] = _now_ms,
    ) -> AuditSink:
        """Open (or create) the federation's ledger for appending.

        Refuses to extend a ledger whose latest signed head no longer matches
        its stored tree: appending would launder tampering into new heads.
        """
        key = signing_key if isinstance(signing_key, Ed25519PrivateKey) else load_signing_key(signing_key)
        path = Path(path)
        if path.exists():
            store = LedgerStore.open(path)
        elif create:
            store = LedgerStore.create(path, public_key=key.public_key())
        else:
            raise ConfigError(f"Ledger {str(path)!r} does not exist; pass create=True to start a new one.")
        try:
            head = store.latest_head()
            if head is not None:
                head.verify(store.public_key)
                if head.tree_size > store.size or store.root(head.tree_size) != head.root_hash:
                    raise VerificationError(
                        f"Ledger {str(path)!r} no longer matches its latest signed tree head (size "
                        f"{head.tree_size}); refusing to append. Run `fedshield audit verify {path}`."
                    )
            if key_fingerprint(key) != key_fingerprint(store.public_key):
                raise SecurityError(
                    f"Ledger {str(path)!r} is bound to coordinator key {key_fingerprint(store.public_key)[:16]}…, "
                    f"not the key you passed ({key_fingerprint(key)[:16]}…); load the key it was created with."
                )
        except BaseException:
            store.close()
            raise
        return cls(store, signing_key=key, clock=clock)

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.store.public_key

    @property
    @_locked
    def size(self) -> int:
        """Entries recorded so far, including those not yet flushed."""
        return self.store.size + len(self._pending)

    @_locked
    def record(self, kind: str, payload: Mapping[str, Any]) -> int:
        """Validate and queue one event; return its leaf index in the log."""
        self._check_open()
        rec = make_record(kind, payload, ts_ms=self._clock())
        index = self.size
        self._pending.append(rec)
        if kind in FLUSH_NOW_KINDS or len(self._pending) >= MAX_BUFFER:
            self.flush()
        return index

    @_locked
    def flush(self) -> None:
        """Make every queued event durable in one transaction."""
        if self._pending:
            self.store.append_many(self._pending)
            self._pending.clear()

    @_locked
    def end_round(self, round_num: int) -> SignedTreeHead:
        """Record ``round_end``; write the round and a head signed over it in one transaction."""
        self._check_open()
        if isinstance(round_num, bool) or not isinstance(round_num, int) or round_num < 0:
            raise param_error("round_num", "AuditSink.end_round", "an int >= 0", round_num)
        end = make_record("round_end", {"round": round_num}, ts_ms=self._clock())
        head = self.store.sign_tree_head(
            self._key, records=[*self._pending, end], timestamp_ms=self._clock(), round_num=round_num
        )
        self._pending.clear()  # only once durable: after a failure end_round can be retried
        return head

    @_locked
    def sign_head(self, *, round_num: int | None = None) -> SignedTreeHead:
        """Write pending events and sign a head over them, outside the round cycle.

        Why: the model-release record comes after the last round; without a head
        over it, verify would report it as an unsigned tail.
        """
        self._check_open()
        head = self.store.sign_tree_head(
            self._key, records=list(self._pending), timestamp_ms=self._clock(), round_num=round_num
        )
        self._pending.clear()
        return head

    @_locked
    def inclusion_proof(self, index: int, *, tree_size: int | None = None) -> list[bytes]:
        """Proof for a site that its event is in the log (default: latest signed head)."""
        head = self.store.latest_head()
        size = tree_size if tree_size is not None else (head.tree_size if head else 0)
        return self.store.inclusion_proof(leaf_index=index, tree_size=size)

    @_locked
    def consistency_proof(self, old_size: int, *, new_size: int | None = None) -> list[bytes]:
        """What a ``TreeHeadWitness`` needs to accept the latest head after ``old_size``."""
        head = self.store.latest_head()
        size = new_size if new_size is not None else (head.tree_size if head else 0)
        return self.store.consistency_proof(old_size=old_size, new_size=size)

    @_locked
    def latest_head(self) -> SignedTreeHead | None:
        return self.store.latest_head()

    @_locked
    def head_sizes(self) -> list[int]:
        """The tree sizes of every signed head, oldest first (what witnesses may have seen)."""
        return [head.tree_size for *_, head in self.store.heads()]

    @_locked
    def close(self) -> None:
        """Flush and close; does not sign (an unsigned tail is reported by verify)."""
        if self._closed:
            return
        try:
            self.flush()
        finally:
            self._closed = True
            self.store.close()

    def _check_open(self) -> None:
        if self._closed:
            raise ConfigError("This AuditSink is closed; open a new one with AuditSink.open(path, signing_key=...).")

    def __enter__(self) -> AuditSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

