"""Stand-ins for the aggregation and screening packages while their issues are
in flight (the foundation imports them but does not ship them). Inert as soon
as the real packages provide the names; only the tests load this."""

from __future__ import annotations

import importlib
import sys
import types
from dataclasses import dataclass, field

import numpy as np


def _module(name: str) -> types.ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError:
        mod = types.ModuleType(name)
        sys.modules[name] = mod
        return mod


def install() -> None:
    agg = _module("fedshield.aggregation")
    if not hasattr(agg, "create_aggregator"):
        class RobustPipeline:
            def __init__(self, *, pre, aggregator):
                self.pre, self.aggregator = pre, aggregator

            def __call__(self, updates, weights, **kw):
                return self.aggregator(updates, weights, **kw)

        def mean(updates, weights, **_):
            w = np.asarray(weights, np.float64)
            return (np.asarray(updates, np.float64).T @ (w / w.sum())).astype(np.float32)

        agg.RobustPipeline = RobustPipeline
        agg.create_aggregator = lambda name, **p: mean
        agg.create_pre_aggregator = lambda name, **p: None
    scr = _module("fedshield.screening")
    if not hasattr(scr, "create_screener"):
        @dataclass
        class Verdict:
            site_id: str

            def to_dict(self):
                return {"site_id": self.site_id, "decision": "accepted", "reason": "", "scores": {}}

        @dataclass
        class Result:
            updates: np.ndarray
            weights: np.ndarray
            site_ids: list
            verdicts: list = field(default_factory=list)

        class NoScreening:
            def screen(self, updates, weights, site_ids, *, round_num):
                return Result(updates, weights, list(site_ids), [Verdict(s) for s in site_ids])

        scr.create_screener = lambda name, **p: NoScreening()


install()
