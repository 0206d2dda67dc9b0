"""The one interface between the round engine and the sites.

In simulation the sites are objects in this process (``InMemoryTransport``); in
deployment they are processes behind mutual-TLS gRPC. Both return the same
messages, so the engine is the same code in both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from fedshield.messages import EvaluateIns, EvaluateRes, FitIns, FitRes, SiteFailure


class Transport(Protocol):
    def site_ids(self) -> list[str]:
        """Every site currently admitted to the federation, in a stable order."""
        ...

    def fit(self, site_ids: Sequence[str], ins: FitIns) -> list[FitRes | SiteFailure]:
        """Send the global model to ``site_ids``; one answer (or failure) each, in order."""
        ...

    def evaluate(self, site_ids: Sequence[str], ins: EvaluateIns) -> list[EvaluateRes | SiteFailure]:
        ...


class StageTransport(Transport, Protocol):
    """A transport that can also carry multi-stage protocol messages (SecAgg, HE).

    Why a separate protocol: plain rounds need only ``fit``; a secure round needs
    several server -> site -> server exchanges per round, and transports that do
    not offer them simply cannot run a secure collector.
    """

    def exchange(
        self, messages: Mapping[str, Any], *, round_num: int
    ) -> dict[str, Any | SiteFailure]:
        """Deliver ``messages[site_id]`` to each site's stage handler; one reply (or failure) each."""
        ...
