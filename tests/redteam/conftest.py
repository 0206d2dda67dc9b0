"""Red-team test helpers: a tiny heart-disease scenario that runs in about a second."""

from __future__ import annotations

import textwrap

import pytest


TINY_HEART = """
name = "tiny-heart"
seed = 1
rounds = {rounds}

[data]
dataset = "heart-disease"
data_dir = "{data_dir}"

[model]
name = "logistic"

[client]
local_steps = 5
batch_size = 8
learning_rate = 0.05

[redteam]
attacks = {attacks}
defenses = {defenses}
{extra}

[redteam.malicious]
sites = ["cleveland"]
attack = "semantic_backdoor"
"""


@pytest.fixture
def tiny_heart(tmp_path, shared_data_dir):
    def make(*, rounds: int = 2, extra: str = "", body: str | None = None,
             attacks: str = '["none", "sign_flip"]', defenses: str = '["fedavg"]'):
        path = tmp_path / "tiny.toml"
        text = body if body is not None else TINY_HEART.format(
            rounds=rounds, data_dir=shared_data_dir, extra=extra, attacks=attacks, defenses=defenses)
        path.write_text(textwrap.dedent(text))
        return path

    return make
