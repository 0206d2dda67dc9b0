"""Without numba every kernel still works (numpy fallbacks) and gives the same results."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np

from fedshield.aggregation import kernels as K

SCRIPT = """
import json, numpy as np
from fedshield.aggregation import _jit, kernels as K
assert not _jit.HAVE_NUMBA
rng = np.random.default_rng(0)
x = rng.normal(size=(13, 300)).astype(np.float32)
x[:2] *= 20
out = {
    "median": K.coordinate_median(x).tolist(),
    "trimmed": K.trimmed_mean(x, f=3).tolist(),
    "bulyan": K.bulyan(x, f=2).tolist(),
    "arc": K.adaptive_robust_clipping(x, f=3).tolist(),
    "fltrust": K.fltrust(x, reference=np.median(x, axis=0)).tolist(),
}
try:
    bad = x.copy(); bad[4, 5] = np.nan; K.coordinate_median(bad); out["nan"] = "accepted"
except ValueError as exc:
    out["nan"] = str(exc)
print(json.dumps(out))
"""


def test_numpy_fallback_matches_jit():
    env = dict(os.environ, FEDSHIELD_DISABLE_NUMBA="1")
    res = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, check=True)
    got = json.loads(res.stdout.strip().splitlines()[-1])
    rng = np.random.default_rng(0)
    x = rng.normal(size=(13, 300)).astype(np.float32)
    x[:2] *= 20
    np.testing.assert_array_equal(got["median"], K.coordinate_median(x))
    np.testing.assert_allclose(got["trimmed"], K.trimmed_mean(x, f=3), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got["bulyan"], K.bulyan(x, f=2), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got["arc"], K.adaptive_robust_clipping(x, f=3), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got["fltrust"], K.fltrust(x, reference=np.median(x, axis=0)), rtol=1e-5, atol=1e-6)
    assert "rows [4]" in got["nan"]
