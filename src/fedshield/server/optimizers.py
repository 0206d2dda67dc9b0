"""Server optimizers (Reddi et al., "Adaptive Federated Optimization", ICLR 2021).

The aggregated site delta is treated as a pseudo-gradient (pointing downhill).
Pure numpy; state is the only thing an optimizer object keeps, so a restarted
server can checkpoint it with ``state_dict``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from fedshield.errors import param_error


class FedAvg:
    """x <- x + eta * delta (eta = 1 is McMahan et al.'s FedAvg)."""

    def __init__(self, *, learning_rate: float = 1.0):
        if not learning_rate > 0:
            raise param_error("learning_rate", "FedAvg", "a float > 0", learning_rate)
        self.learning_rate = learning_rate

    def step(self, params: np.ndarray, delta: np.ndarray) -> np.ndarray:
        return (params + self.learning_rate * delta).astype(np.float32)

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


class _Adaptive:
    """Shared first moment; subclasses define the second-moment rule."""

    name = "adaptive"

    def __init__(
        self,
        *,
        learning_rate: float = 0.1,
        beta1: float = 0.9,
        beta2: float = 0.99,
        tau: float = 1e-3,
    ):
        owner = type(self).__name__
        if not learning_rate > 0:
            raise param_error("learning_rate", owner, "a float > 0", learning_rate)
        if not 0 <= beta1 < 1:
            raise param_error("beta1", owner, "a float in [0, 1)", beta1)
        if not 0 <= beta2 < 1:
            raise param_error("beta2", owner, "a float in [0, 1)", beta2)
        if not tau > 0:
            raise param_error("tau", owner, "a float > 0", tau)
        self.learning_rate, self.beta1, self.beta2, self.tau = learning_rate, beta1, beta2, tau
        self.m: np.ndarray | None = None
        self.v: np.ndarray | None = None

    def _second_moment(self, v: np.ndarray, d2: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def step(self, params: np.ndarray, delta: np.ndarray) -> np.ndarray:
        d = delta.astype(np.float64)
        if self.m is None:
            self.m = np.zeros_like(d)
            self.v = np.full_like(d, self.tau**2)
        self.m = self.beta1 * self.m + (1 - self.beta1) * d
        self.v = self._second_moment(self.v, d * d)
        return (params + self.learning_rate * self.m / (np.sqrt(self.v) + self.tau)).astype(np.float32)

    def state_dict(self) -> dict:
        return {"m": self.m, "v": self.v}

    def load_state_dict(self, state: dict) -> None:
        self.m, self.v = state.get("m"), state.get("v")


class FedAdagrad(_Adaptive):
    def _second_moment(self, v, d2):
        return v + d2


class FedAdam(_Adaptive):
    def _second_moment(self, v, d2):
        return self.beta2 * v + (1 - self.beta2) * d2


class FedYogi(_Adaptive):
    def _second_moment(self, v, d2):
        return v - (1 - self.beta2) * d2 * np.sign(v - d2)


_REGISTRY: dict[str, Callable[..., object]] = {
    "fedavg": FedAvg,
    "fedadam": FedAdam,
    "fedyogi": FedYogi,
    "fedadagrad": FedAdagrad,
}


def list_server_optimizers() -> list[str]:
    return sorted(_REGISTRY)


def create_server_optimizer(name: str, **params):
    if name not in _REGISTRY:
        raise param_error("optimizer", "server", f"one of {list_server_optimizers()}", name)
    return _REGISTRY[name](**params)
