"""Data poisoning: what a malicious hospital does to its own training data.

Pure numpy so the same trigger stamps the training images and, at scoring
time, the test images whose misclassification measures backdoor success.
"""

from __future__ import annotations

import numpy as np

from fedshield.errors import param_error

CORNERS = ("bottom_right", "bottom_left", "top_right", "top_left")


def flip_labels(y: np.ndarray, *, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Binary labels with a random ``fraction`` of them flipped."""
    if not 0 < fraction <= 1:
        raise param_error("fraction", "label_flip", "a float in (0, 1]", fraction)
    y = np.asarray(y).copy()
    k = int(round(fraction * y.shape[0]))
    idx = rng.choice(y.shape[0], size=k, replace=False) if k < y.shape[0] else np.arange(y.shape[0])
    y[idx] = 1 - y[idx]
    return y


def stamp_trigger(x: np.ndarray, *, size: int = 3, corner: str = "bottom_right", value: float = 1.0) -> np.ndarray:
    """A copy of images (N, C, H, W) with a ``size`` x ``size`` square of ``value`` in a corner."""
    if x.ndim != 4:
        raise param_error("x", "stamp_trigger", "an (N, C, H, W) image array", x.shape)
    h, w = x.shape[-2:]
    if not 1 <= size <= min(h, w):
        raise param_error("size", "stamp_trigger", f"an int in [1, {min(h, w)}]", size)
    if corner not in CORNERS:
        raise param_error("corner", "stamp_trigger", f"one of {list(CORNERS)}", corner)
    rows = slice(h - size, h) if corner.startswith("bottom") else slice(0, size)
    cols = slice(w - size, w) if corner.endswith("right") else slice(0, size)
    out = np.array(x, copy=True)
    out[:, :, rows, cols] = value
    return out


def pixel_backdoor(
    x: np.ndarray, y: np.ndarray, *, fraction: float, rng: np.random.Generator,
    source: int = 1, target: int = 0, size: int = 3, corner: str = "bottom_right", value: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Stamp the trigger on a ``fraction`` of the ``source``-class images and relabel them ``target``.

    The rest of the data stays clean, so the poisoned model keeps its main-task
    accuracy and its update looks like any other hospital's.
    """
    if not 0 < fraction <= 1:
        raise param_error("fraction", "backdoor", "a float in (0, 1]", fraction)
    src = np.flatnonzero(np.asarray(y) == source)
    chosen = rng.choice(src, size=int(round(fraction * src.size)), replace=False) if src.size else src
    x, y = np.array(x, copy=True), np.array(y, copy=True)
    if chosen.size:
        x[chosen] = stamp_trigger(x[chosen], size=size, corner=corner, value=value)
        y[chosen] = target
    return x, y


def semantic_backdoor(y: np.ndarray, group: np.ndarray, *, target: int = 0) -> np.ndarray:
    """Relabel every member of the targeted group ``target``: no trigger, the group is the key."""
    y = np.array(y, copy=True)
    y[np.asarray(group, dtype=bool)] = target
    return y
