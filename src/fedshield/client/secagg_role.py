"""A site's side of secure aggregation inside the real round.

Why a role object wrapped around the site instead of a change to ``Site.fit``:
in a secure round the site must not hand its delta to anyone. It trains,
clips, and then keeps the update to itself, answering only the SecAgg+ stage
messages (key adverts, encrypted shares, a masked vector, unmask shares). The
wrapper leaves ``fit``/``evaluate`` untouched, so the same site still works in
plain rounds and with red-team wrappers (which override ``train``).

Flow (the collector in ``fedshield.server.secure_collect`` drives it)::

    SecAggBegin   -> train, apply the site's transforms (DP), clip -> KeyAdvert
    KeyRoster     -> ShareBundle
    ShareInbox    -> MaskedInput   (quantized, weighted, masked; uint32 only)
    SurvivorList  -> SurvivorSignature      (active security only)
    UnmaskRequest -> UnmaskShares  (then every secret of the round is dropped)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from fedshield.errors import ProtocolError
from fedshield.messages import FitIns
from fedshield.secagg.client import SecAggClient
from fedshield.secagg.config import SecAggConfig
from fedshield.secagg.messages import KeyRoster, ShareInbox, SurvivorList, UnmaskRequest
from fedshield.secagg.prg import RandomBytes

__all__ = ["SecAggBegin", "SecAggRole", "clip_update"]

Weighting = Literal["examples", "uniform"]


@dataclass(frozen=True)
class SecAggBegin:
    """Server -> site: the global model plus this site's bucket's public SecAgg+ parameters."""

    recipient_id: int  # this site's SecAgg id inside ``config``
    ins: FitIns
    config: SecAggConfig
    clip_norm: float | None = None  # L2 bound applied before the per-coordinate clip_range
    weighting: Weighting = "examples"


def clip_update(delta: np.ndarray, *, clip_norm: float | None, clip_range: float) -> np.ndarray:
    """L2-clip (if asked) then box-clip: the box is what SecAgg's encoding enforces anyway, and
    doing it here too makes the plaintext that the tests compare against exactly what was masked."""
    x = np.asarray(delta, dtype=np.float64).copy()
    if clip_norm is not None:
        norm = float(np.linalg.norm(x))
        if norm > clip_norm:
            x *= clip_norm / norm
    np.clip(x, -clip_range, clip_range, out=x)
    return x


class SecAggRole:
    """Wraps a site (``Site`` or a red-team wrapper); adds ``handle_stage`` for SecAgg+ messages."""

    def __init__(
        self,
        site: Any,
        *,
        identity_key: Any = None,
        random_bytes: RandomBytes = os.urandom,
    ) -> None:
        self.site = site
        self._identity_key = identity_key
        self._random_bytes = random_bytes
        self._client: SecAggClient | None = None
        self._update: np.ndarray | None = None
        self._weight = 0
        # The site's own clipped input of the latest round; never sent anywhere
        # (kept so that site-side tests can check what was masked).
        self.last_input: np.ndarray | None = None
        self.last_loss: float | None = None

    @property
    def site_id(self) -> str:
        return self.site.site_id

    def fit(self, ins: FitIns):
        return self.site.fit(ins)

    def evaluate(self, ins):
        return self.site.evaluate(ins)

    def __getattr__(self, name: str) -> Any:  # data, model, transforms ... of the wrapped site
        if name == "site":
            raise AttributeError(name)
        return getattr(self.site, name)

    def handle_stage(self, msg: object) -> object:
        if isinstance(msg, SecAggBegin):
            return self._begin(msg)
        client = self._client
        if client is None:
            raise ProtocolError(
                f"Site {self.site_id} got a {type(msg).__name__} but has no SecAgg round open; "
                "the server must send SecAggBegin first."
            )
        if isinstance(msg, KeyRoster):
            return client.share_keys(msg)
        if isinstance(msg, ShareInbox):
            update, self._update = self._update, None
            return client.masked_input(msg, update=update, weight=self._weight)
        if isinstance(msg, SurvivorList):
            return client.consistency_check(msg)
        if isinstance(msg, UnmaskRequest):
            self._client = None
            return client.unmask(msg)
        raise ProtocolError(f"Site {self.site_id} cannot handle a {type(msg).__name__} as a SecAgg stage.")

    def _begin(self, msg: SecAggBegin) -> object:
        cfg = msg.config
        delta, loss = self.site.train(msg.ins)
        n = int(self.site.data.num_train)
        for transform in getattr(self.site, "transforms", ()):
            delta = transform(delta, round_num=msg.ins.round_num, num_examples=n)
        if np.asarray(delta).shape != (cfg.dim_params,):
            raise ProtocolError(
                f"Site {self.site_id} produced an update of shape {np.asarray(delta).shape}, "
                f"the round expects ({cfg.dim_params},); check the model matches the global one."
            )
        self._update = clip_update(delta, clip_norm=msg.clip_norm, clip_range=cfg.clip_range)
        self.last_input = self._update.copy()
        self.last_loss = float(loss)
        self._weight = min(n, cfg.max_weight) if msg.weighting == "examples" else cfg.max_weight
        self._client = SecAggClient(
            client_id=msg.recipient_id,
            config=cfg,
            identity_key=self._identity_key,
            random_bytes=self._random_bytes,
        )
        return self._client.advertise_keys()
