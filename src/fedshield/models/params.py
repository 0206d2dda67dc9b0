"""Model <-> flat float32 vector, the one wire format for parameters.

Why flat: aggregators, secure aggregation and DP all work on (n, d) arrays;
converting once at the edge keeps those kernels free of torch.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from fedshield.errors import param_error


def get_flat_params(model: nn.Module) -> np.ndarray:
    with torch.no_grad():
        return torch.cat([p.detach().reshape(-1) for p in model.state_dict().values()]).to(
            torch.float32
        ).numpy().copy()


def num_params(model: nn.Module) -> int:
    return sum(t.numel() for t in model.state_dict().values())


def set_flat_params(model: nn.Module, flat: np.ndarray) -> None:
    expected = num_params(model)
    if flat.ndim != 1 or flat.shape[0] != expected:
        raise param_error(
            "parameters", "set_flat_params", f"a flat vector of {expected} values", flat.shape
        )
    if not np.isfinite(flat).all():
        raise param_error("parameters", "set_flat_params", "finite values", "NaN/Inf values")
    state = model.state_dict()
    offset = 0
    new_state = {}
    src = torch.from_numpy(np.ascontiguousarray(flat, dtype=np.float32))
    for name, tensor in state.items():
        n = tensor.numel()
        new_state[name] = src[offset : offset + n].view_as(tensor).to(tensor.dtype).clone()
        offset += n
    model.load_state_dict(new_state)
