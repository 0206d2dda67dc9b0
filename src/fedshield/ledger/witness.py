"""``TreeHeadWitness``: a site's memory of the coordinator's last tree head.

Why: a coordinator could keep two ledgers, or rewrite one and re-sign it.
Each site remembers the last head it accepted and demands, for every new head,
a valid signature and an RFC 9162 consistency proof from the old size; a
rewritten history (a fork) cannot produce that proof. Sites that compare
heads with each other (gossip) also catch a coordinator showing them
different logs.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from fedshield.errors import DataError, VerificationError
from fedshield.ledger.heads import SignedTreeHead
from fedshield.ledger.keys import PublicKeyLike, as_public_key
from fedshield.ledger.merkle import verify_consistency

__all__ = ["TreeHeadWitness"]


class TreeHeadWitness:
    """Accept a new signed head only if it extends the last one this site saw."""

    def __init__(
        self,
        *,
        public_key: PublicKeyLike,
        log_id: bytes | None = None,
        state_path: str | os.PathLike | None = None,
    ) -> None:
        self.public_key = as_public_key(public_key)
        self.log_id = log_id
        self.last: SignedTreeHead | None = None
        self.state_path = None if state_path is None else Path(state_path)
        if self.state_path is not None and self.state_path.exists():
            self._load()

    def _load(self) -> None:
        assert self.state_path is not None
        try:
            state = json.loads(self.state_path.read_text("utf-8"))
            head = SignedTreeHead.from_dict(state["head"])
        except (ValueError, KeyError, TypeError) as exc:
            raise DataError(
                f"Witness state {str(self.state_path)!r} is unreadable ({exc}); restore it from backup. "
                "Deleting it makes this site trust the coordinator's next head blindly."
            ) from None
        head.verify(self.public_key)
        if self.log_id is not None and head.log_id != self.log_id:
            raise VerificationError(
                f"Witness state {str(self.state_path)!r} is for log {head.log_id.hex()[:16]}…, not "
                f"{self.log_id.hex()[:16]}…; use one state file per federation."
            )
        self.log_id, self.last = head.log_id, head

    def _save(self) -> None:
        if self.state_path is None or self.last is None:
            return
        data = json.dumps({"head": self.last.to_dict()}, sort_keys=True)
        fd, tmp = tempfile.mkstemp(dir=self.state_path.parent, prefix=".witness-")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.state_path)  # atomic: a crash leaves the old or the new state

    def observe(self, head: SignedTreeHead, *, proof: Sequence[bytes] = ()) -> None:
        """Check ``head`` (and the consistency ``proof`` from our last size), then remember it."""
        try:
            head.verify(self.public_key)
        except VerificationError as exc:
            raise VerificationError(f"Witness rejected a new tree head: {exc}") from None
        if self.log_id is not None and head.log_id != self.log_id:
            raise VerificationError(
                f"Witness rejected a tree head for log {head.log_id.hex()[:16]}…; this site follows log "
                f"{self.log_id.hex()[:16]}…. The coordinator presented another federation's ledger."
            )
        old = self.last
        if old is not None:
            if head.tree_size < old.tree_size:
                raise VerificationError(
                    f"Fork detected: the coordinator's new tree head has size {head.tree_size}, smaller than "
                    f"size {old.tree_size} this site already saw: history was truncated or rolled back."
                )
            if head.timestamp_ms < old.timestamp_ms:
                raise VerificationError(
                    f"Witness rejected a tree head dated {head.timestamp_ms} ms, earlier than the head "
                    f"it already saw ({old.timestamp_ms} ms): the coordinator replayed an old head."
                )
            try:
                verify_consistency(
                    old_size=old.tree_size,
                    new_size=head.tree_size,
                    old_root=old.root_hash,
                    new_root=head.root_hash,
                    proof=proof,
                )
            except VerificationError as exc:
                raise VerificationError(
                    f"Fork detected: the tree head of size {head.tree_size} is not an append-only extension "
                    f"of the head of size {old.tree_size} this site saw: {exc}"
                ) from None
        self.log_id, self.last = head.log_id, head
        self._save()

    @property
    def needs_proof_from(self) -> int | None:
        """The old tree size a consistency proof must start at (None before the first head)."""
        return None if self.last is None else self.last.tree_size
