"""Where the engine reports what happened: metrics history, audit ledger, logs.

Sinks receive plain JSON-able payloads (hashes, norms, verdicts — never weights
or patient data), so the audit ledger can store them verbatim.
"""

from __future__ import annotations

import hashlib
from typing import Any, Protocol

import numpy as np


class EventSink(Protocol):
    def record(self, kind: str, payload: dict[str, Any]) -> Any: ...

    def end_round(self, round_num: int) -> Any: ...


def array_sha256(array: np.ndarray) -> str:
    """Content hash of a parameter vector, as recorded in the ledger."""
    return hashlib.sha256(np.ascontiguousarray(array, dtype=np.float32).tobytes()).hexdigest()


class MemorySink:
    """Keeps events in a list; used by tests and the report."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def record(self, kind: str, payload: dict[str, Any]) -> int:
        self.events.append((kind, payload))
        return len(self.events) - 1

    def end_round(self, round_num: int) -> None:
        self.events.append(("round_end", {"round": round_num}))
