"""One intra-op thread: the CI box has 2 shared cores and torch's default
thread pool only adds contention for these small models."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def _single_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
