"""Gaussian noise sources: seeded (reproducible) or secure (OS entropy).

Why our own secure source: Opacus's ``secure_mode`` needs ``torchcsprng``, which
has no build for recent torch. The secure source draws every bit from
``os.urandom`` (the kernel CSPRNG), turns it into Gaussians by Box-Muller in
float64, and, like Opacus, sums 4 draws of std/2 so the floating-point
representation attack (Holohan & Braghin 2021, sec. 5.1 with n=2) is out of reach.
The seeded source is for experiments only: its output is predictable from the
seed, so it does not give a DP guarantee against anyone who can learn the seed.
"""

from __future__ import annotations

import os

import numpy as np
import torch

NOT_FOR_PRODUCTION = (
    "noise is drawn from a seeded pseudo-random generator (reproducible, predictable): "
    "not suitable for production; set privacy.secure_mode = true"
)


def secure_uniform(size: int) -> np.ndarray:
    """Uniforms in (0, 1) from 53 random bits each, read from os.urandom."""
    bits = np.frombuffer(os.urandom(8 * size), dtype=np.uint64) >> np.uint64(11)
    return (bits.astype(np.float64) + 0.5) / float(1 << 53)


def secure_normal(shape: tuple[int, ...], *, std: float) -> np.ndarray:
    n = int(np.prod(shape)) if shape else 1
    total = np.zeros(n)
    for _ in range(4):
        u1, u2 = secure_uniform(n), secure_uniform(n)
        total += np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)
    return (total * (std / 2.0)).reshape(shape)


class GaussianNoise:
    """``normal(shape, std=...)`` from either source, as float64 numpy."""

    def __init__(self, *, secure: bool, seed: int | None = None):
        self.secure = secure
        self._rng = None if secure else np.random.default_rng(seed)

    def normal(self, shape: tuple[int, ...], *, std: float) -> np.ndarray:
        if std == 0:
            return np.zeros(shape)
        if self.secure:
            return secure_normal(shape, std=std)
        return self._rng.normal(0.0, std, size=shape)

    def torch_normal(self, reference: torch.Tensor, *, std: float) -> torch.Tensor:
        return torch.from_numpy(self.normal(tuple(reference.shape), std=std)).to(reference.dtype)
