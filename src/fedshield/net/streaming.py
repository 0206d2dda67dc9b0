"""Stream-aggregation for the weighted mean: fold each verified update into a
running float64 sum the moment it is accepted, then drop it. Server memory is
then O(d), not O(n * d), and flat across rounds; robust aggregators that need
every update (median, Krum) cannot use this and go through ``run_round``."""

from __future__ import annotations

import threading

import numpy as np

from fedshield.errors import AggregationError


class StreamingMean:
    def __init__(self, dim: int):
        self.dim = dim
        self._sum = np.zeros(dim, np.float64)
        self._weight = 0.0
        self._sites: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, site: str, delta: np.ndarray, num_examples: int) -> None:
        with self._lock:
            if site in self._sites:
                raise AggregationError(f"{site!r} was already counted this round; a second update is refused.")
            self._sum += delta.astype(np.float64) * float(num_examples)
            self._weight += float(num_examples)
            self._sites.append(site)

    def reset(self) -> None:
        with self._lock:
            self._sum[:] = 0.0
            self._weight, self._sites = 0.0, []

    def finish(self) -> tuple[np.ndarray, list[str]]:
        with self._lock:
            if self._weight <= 0:
                raise AggregationError("No update was counted this round; nothing to aggregate.")
            mean = (self._sum / self._weight).astype(np.float32)
            sites = self._sites
            self._sum[:] = 0.0
            self._weight, self._sites = 0.0, []
            return mean, sites


class StreamingMeanCollector:
    """Engine ``collector`` for the plain weighted mean over ``GrpcTransport``.

    The coordinator folds each verified update into ``StreamingMean`` as it
    arrives; the engine then sees one row (the mean, weighted by the total
    example count), so the mean aggregator returns it unchanged and the
    server never holds n updates. Only valid without screening and without
    robust aggregation (``check_scenario`` refuses other set-ups).
    """

    def __init__(self, reducer: StreamingMean):
        self.reducer = reducer

    @staticmethod
    def check_scenario(scenario) -> None:
        from fedshield.errors import ConfigError

        agg, scr = scenario.aggregation, scenario.screening
        if agg.name != "mean" or agg.pre or agg.params or scr.name != "none":
            raise ConfigError(
                "stream_aggregate = true needs aggregation.name = 'mean' with no 'pre' or 'params' and "
                f"screening.name = 'none' (got {agg.name!r}, pre={agg.pre}, screening {scr.name!r}); robust "
                "aggregators need every update, so set stream_aggregate = false for them.")

    def collect(self, transport, admitted, ins):
        from fedshield.messages import FitRes
        from fedshield.server.engine import Collection

        self.reducer.reset()  # a round that failed earlier must not leak into this one
        answers = transport.fit(admitted, ins)
        ok = [a for a in answers if isinstance(a, FitRes)]
        failures = {a.site_id: a.reason for a in answers if not isinstance(a, FitRes)}
        if not ok:
            return Collection(np.zeros((0, self.reducer.dim), np.float32), np.zeros(0), [], [], failures)
        total = float(sum(a.num_examples for a in ok))
        mean, counted = self.reducer.finish()
        sites = [s for s in admitted if s in set(counted)]  # the engine's order, not arrival order
        return Collection(mean[None, :], np.array([total]), ["streamed-mean"], sites, failures)
