import subprocess
import sys

import pytest

from fedshield.redteam.defenses import defenses_available

needs_defenses = pytest.mark.skipif(not defenses_available(), reason="fedshield.aggregation/screening not built yet")

CHECK = """
import sys
import fedshield.server.engine, fedshield.server.evaluation, fedshield.server.events
import fedshield.server.optimizers, fedshield.server.sampling
import fedshield.aggregation, fedshield.screening, fedshield.transport
import fedshield.simulation
leaked = sorted(m for m in sys.modules if m.startswith("fedshield.redteam"))
assert not leaked, leaked
print("clean")
"""


@needs_defenses
def test_server_side_never_imports_the_red_team():
    out = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "clean"


def test_cli_module_imports_the_red_team_lazily():
    code = "import sys, fedshield.cli.redteam; print(any(m.startswith('fedshield.redteam') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "False", out.stderr
