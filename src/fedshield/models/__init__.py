"""Diagnostic models, created by name so scenarios stay declarative.

torch is imported on first use, so validating a scenario (``models.spec``) stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fedshield.models.spec import MODEL_PARAMS, check_model_params

if TYPE_CHECKING:
    from torch import nn

    from fedshield.models.nets import MLP, LogisticRegression, SmallCNN

__all__ = ["create_model", "list_models", "LogisticRegression", "MLP", "SmallCNN"]

_CLASSES = {"logistic": "LogisticRegression", "mlp": "MLP", "cnn": "SmallCNN"}


def list_models() -> list[str]:
    return sorted(MODEL_PARAMS)


def create_model(name: str, *, input_shape: tuple[int, ...], seed: int, **params) -> nn.Module:
    """Build a model with deterministic initial weights for ``seed``."""
    check_model_params(name, params)
    import torch

    from fedshield.models import nets

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return getattr(nets, _CLASSES[name])(input_shape=input_shape, **params)


def __getattr__(name: str) -> Any:
    if name in _CLASSES.values():
        from fedshield.models import nets

        return getattr(nets, name)
    raise AttributeError(f"module 'fedshield.models' has no attribute {name!r}")
