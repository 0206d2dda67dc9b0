"""Diagnostic models, created by name so scenarios stay declarative."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from fedshield.errors import ConfigError
from fedshield.models.nets import SmallCNN, LogisticRegression, MLP

__all__ = ["create_model", "list_models", "LogisticRegression", "MLP", "SmallCNN"]

_REGISTRY: dict[str, Callable[..., nn.Module]] = {
    "logistic": LogisticRegression,
    "mlp": MLP,
    "cnn": SmallCNN,
}


def list_models() -> list[str]:
    return sorted(_REGISTRY)


def create_model(name: str, *, input_shape: tuple[int, ...], seed: int, **params) -> nn.Module:
    """Build a model with deterministic initial weights for ``seed``."""
    if name not in _REGISTRY:
        raise ConfigError(
            f"The 'model' parameter must be one of {list_models()}. Got {name!r} instead."
        )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return _REGISTRY[name](input_shape=input_shape, **params)
