"""Sites as in-process objects: the fast, deterministic simulation transport.

Exceptions raised by a site become ``SiteFailure`` rather than crashing the run,
mirroring what a dropped connection does over the network.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from fedshield.errors import ConfigError, FedShieldError
from fedshield.messages import EvaluateIns, EvaluateRes, FitIns, FitRes, SiteFailure


class SiteEndpoint(Protocol):
    site_id: str

    def fit(self, ins: FitIns) -> FitRes: ...

    def evaluate(self, ins: EvaluateIns) -> EvaluateRes: ...


class InMemoryTransport:
    def __init__(self, sites: Sequence[SiteEndpoint]):
        ids = [s.site_id for s in sites]
        if len(set(ids)) != len(ids):
            raise ConfigError(f"Site ids must be unique; got {ids}.")
        self._sites = {s.site_id: s for s in sites}
        self.delivered: list[tuple[str, int]] = []

    def site_ids(self) -> list[str]:
        return list(self._sites)

    def fit(self, site_ids: Sequence[str], ins: FitIns) -> list[FitRes | SiteFailure]:
        out: list[FitRes | SiteFailure] = []
        for sid in site_ids:
            try:
                out.append(self._sites[sid].fit(ins))
                self.delivered.append((sid, ins.round_num))
            except FedShieldError as exc:
                out.append(SiteFailure(sid, ins.round_num, f"{type(exc).__name__}: {exc}"))
        return out

    def evaluate(self, site_ids: Sequence[str], ins: EvaluateIns) -> list[EvaluateRes | SiteFailure]:
        out: list[EvaluateRes | SiteFailure] = []
        for sid in site_ids:
            try:
                out.append(self._sites[sid].evaluate(ins))
            except FedShieldError as exc:
                out.append(SiteFailure(sid, ins.round_num, f"{type(exc).__name__}: {exc}"))
        return out

    def exchange(self, messages: Mapping[str, Any], *, round_num: int) -> dict[str, Any]:
        """Hand each site its stage message (``site.handle_stage(msg)``); errors become failures."""
        out: dict[str, Any] = {}
        for sid, msg in messages.items():
            site = self._sites.get(sid)
            handler = getattr(site, "handle_stage", None)
            if handler is None:
                out[sid] = SiteFailure(
                    sid, round_num, f"site {sid!r} has no stage handler; wrap it in a role (e.g. SecAggRole)"
                )
                continue
            try:
                out[sid] = handler(msg)
            except FedShieldError as exc:
                out[sid] = SiteFailure(sid, round_num, f"{type(exc).__name__}: {exc}")
        return out
