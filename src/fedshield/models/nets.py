"""The three diagnostic architectures.

Each outputs one logit per example (binary diagnosis: disease vs. none), which
keeps loss, metrics and attacks uniform across datasets.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from fedshield.errors import param_error


def _flat_features(input_shape: tuple[int, ...]) -> int:
    return int(math.prod(input_shape))


class LogisticRegression(nn.Module):
    """FLamby's Fed-Heart-Disease baseline: one linear layer."""

    def __init__(self, *, input_shape: tuple[int, ...]):
        super().__init__()
        self.linear = nn.Linear(_flat_features(input_shape), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x.flatten(1)).squeeze(-1)


class MLP(nn.Module):
    def __init__(self, *, input_shape: tuple[int, ...], hidden_units: int = 32, dropout: float = 0.0):
        super().__init__()
        if hidden_units < 1:
            raise param_error("hidden_units", "MLP", "an int >= 1", hidden_units)
        self.net = nn.Sequential(
            nn.Flatten(),
            nn.Linear(_flat_features(input_shape), hidden_units),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden_units, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)


class SmallCNN(nn.Module):
    """A small CNN for 28x28 grey-scale images (chest X-rays).

    GroupNorm rather than BatchNorm: batch statistics are per-site state that
    FedAvg cannot average soundly and that DP-SGD (Opacus) refuses.
    """

    def __init__(self, *, input_shape: tuple[int, ...], channels: int = 32):
        super().__init__()
        if len(input_shape) != 3:
            raise param_error("input_shape", "SmallCNN", "(channels, height, width): model 'cnn' is for images "
                              "(pneumonia); use 'logistic' or 'mlp' for tabular data", input_shape)
        c, h, w = input_shape
        self.features = nn.Sequential(
            nn.Conv2d(c, channels, 3, padding=1),
            nn.GroupNorm(8, channels),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(channels, 2 * channels, 3, padding=1),
            nn.GroupNorm(8, 2 * channels),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(2 * channels * (h // 4) * (w // 4), 64),
            nn.ReLU(),
            nn.Linear(64, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x)).squeeze(-1)
