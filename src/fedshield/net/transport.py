"""``GrpcTransport``: the ``Transport`` the round engine drives in deployment.

It posts tasks to the coordinator and waits; the engine cannot tell it from
``InMemoryTransport``. Updates accepted before a server crash (journaled) are
re-counted instead of being asked for again.

It is also a ``StageTransport``: ``exchange`` carries the SecAgg+ stage messages
of ``SecureCollector`` as "stage" tasks, so secure aggregation runs over the
network with the collector unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fedshield.messages import EvaluateIns, EvaluateRes, FitIns, FitRes, SiteFailure
from fedshield.net.codec import encode_stage
from fedshield.net.coordinator import Coordinator
from fedshield.server.events import array_sha256


class GrpcTransport:
    def __init__(self, coordinator: Coordinator, *, round_timeout_s: float = 120.0,
                 eval_timeout_s: float = 60.0, dead_after_s: float = 30.0):
        self.c = coordinator
        self.round_timeout_s, self.eval_timeout_s, self.dead_after_s = round_timeout_s, eval_timeout_s, dead_after_s

    def site_ids(self) -> list[str]:
        return self.c.joined()

    def fit(self, site_ids: Sequence[str], ins: FitIns) -> list[FitRes | SiteFailure]:
        ids = list(site_ids)
        self.c.replay_journal(ins.round_num, ids, array_sha256(ins.parameters))
        self.c.post("fit", ins.round_num, ids, parameters=ins.parameters, config=ins.config)
        return self.c.collect("fit", ins.round_num, ids, timeout_s=self.round_timeout_s,
                              dead_after_s=self.dead_after_s)

    def evaluate(self, site_ids: Sequence[str], ins: EvaluateIns) -> list[EvaluateRes | SiteFailure]:
        ids = list(site_ids)
        self.c.post("evaluate", ins.round_num, ids, parameters=ins.parameters, config={})
        return self.c.collect("evaluate", ins.round_num, ids, timeout_s=self.eval_timeout_s,
                              dead_after_s=self.dead_after_s)

    def exchange(self, messages: Mapping[str, Any], *, round_num: int) -> dict[str, Any]:
        """Deliver ``messages[site_id]`` to each site's stage handler; one reply (or ``SiteFailure``) each.

        A reply counts only if the site whose certificate made the call signed it for this run, round,
        message and nonce (see ``Coordinator.accept_stage``); the first stage includes local training,
        so every stage gets the round timeout.
        """
        payloads = {sid: encode_stage(msg) for sid, msg in messages.items()}
        ids = list(payloads)
        self.c.post_stage(round_num, payloads)
        answers = self.c.collect("stage", round_num, ids, timeout_s=self.round_timeout_s,
                                 dead_after_s=self.dead_after_s)
        return dict(zip(ids, answers))
