from __future__ import annotations

import numpy as np
import pytest

from fedshield.errors import ConfigError
from fedshield.redteam.privacy.plots import save_inversion_grid, save_robustness_plot, save_roc_plot


def test_figures_are_written(tmp_path):
    x = np.random.default_rng(0).random((3, 1, 8, 8))
    p = save_inversion_grid(tmp_path / "g.png", x, {"IG": x[::-1]}, psnrs={"IG": [1.0, 2.0, 3.0]}, title="t")
    assert p.stat().st_size > 0
    fpr = np.linspace(0, 1, 11)
    assert save_roc_plot(tmp_path / "r.png", {"a": (fpr, fpr ** 0.5)}).stat().st_size > 0
    c = {"eps": [0, 1 / 255], "pgd": [0.9, 0.5]}
    assert save_robustness_plot(tmp_path / "c.png", {"m": c}).stat().st_size > 0
    with pytest.raises(ConfigError):
        save_inversion_grid(tmp_path / "bad.png", x, {"IG": x[:2]})
