"""The SecAgg+ communication graph: a Harary graph H(k, n) on a random permutation.

Why this graph (Bell et al., CCS 2020, Sec. 4): each client masks with and
shares secrets to only its k neighbours, cutting client work from O(n) to
O(k) with k = O(log n). Relabelling a Harary graph with a permutation drawn
from public round randomness makes it a random k-regular graph that the
server cannot choose (so it cannot isolate a victim among colluders), while
every party recomputes the same graph locally. k = n - 1 is classic SecAgg.

Kernel: imports no I/O.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence

import numpy as np

from fedshield.errors import param_error
from fedshield.secagg.prg import expand_words

__all__ = ["neighbour_graph", "default_degree", "check_degree"]


def default_degree(n_clients: int) -> int:
    """A k = O(log n) default: 2 * ceil(1.5 * log2 n), capped at n - 1.

    Why this constant: it keeps every neighbourhood above ~10 for n >= 16,
    which tolerates a few dropouts per neighbourhood with t just above (k+1)/2;
    tune it to the expected dropout and collusion rates of the deployment.
    """
    if n_clients <= 2:
        return max(n_clients - 1, 1)
    k = 2 * math.ceil(1.5 * math.log2(n_clients))
    return min(k, n_clients - 1)


def check_degree(*, n_clients: int, degree: int) -> None:
    if not 1 <= degree <= n_clients - 1:
        raise param_error("degree", "SecAgg+", f"between 1 and n_clients - 1 = {n_clients - 1}", degree)
    if degree % 2 and n_clients % 2:
        raise param_error(
            "degree",
            "SecAgg+",
            f"even when n_clients ({n_clients}) is odd, since n * k must be even for a "
            f"k-regular graph (use {degree + 1 if degree + 1 < n_clients else degree - 1})",
            degree,
        )


def neighbour_graph(client_ids: Sequence[int], *, degree: int, seed: bytes) -> dict[int, tuple[int, ...]]:
    """Map each client id to its sorted neighbour ids (never itself)."""
    ids = sorted(set(int(c) for c in client_ids))
    if len(ids) != len(client_ids):
        raise param_error("client_ids", "neighbour_graph", "distinct ids", list(client_ids))
    n = len(ids)
    check_degree(n_clients=n, degree=degree)
    key = hashlib.sha256(b"fedshield/secagg/graph" + bytes(seed)).digest()
    sort_keys = expand_words(key, n_words=2 * n).view(np.uint64)
    order = [ids[i] for i in np.argsort(sort_keys, kind="stable")]
    half = degree // 2
    offsets = [o for h in range(1, half + 1) for o in (h, -h)]
    if degree % 2:
        offsets.append(n // 2)
    return {order[pos]: tuple(sorted(order[(pos + off) % n] for off in offsets)) for pos in range(n)}
