"""Kernels import no I/O; state machines and messages import no transport."""

import ast
from pathlib import Path

import pytest

import fedshield.secagg as pkg

SRC = Path(pkg.__file__).parent
IO_MODULES = {
    "socket",
    "ssl",
    "grpc",
    "asyncio",
    "http",
    "urllib",
    "requests",
    "subprocess",
    "io",
    "os",
    "pathlib",
    "selectors",
    "select",
    "threading",
    "multiprocessing",
    "pickle",
    "shutil",
    "logging",
}
KERNELS = ["prg", "shamir", "quantize", "graph"]
STATE_MACHINES = ["messages", "client", "server", "crypto", "config"]


def _imports(module: str) -> set[str]:
    tree = ast.parse((SRC / f"{module}.py").read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("module", KERNELS)
def test_kernels_import_no_io(module):
    imported = _imports(module)
    assert not {name.split(".")[0] for name in imported} & IO_MODULES
    assert all(
        not n.startswith("fedshield.") or n in {"fedshield.errors", "fedshield.secagg.prg"} for n in imported
    )


@pytest.mark.parametrize("module", STATE_MACHINES)
def test_state_machines_import_no_transport(module):
    roots = {name.split(".")[0] for name in _imports(module)}
    assert not roots & (IO_MODULES - {"os"})
    assert not any(n.startswith(("fedshield.transport", "fedshield.net")) for n in _imports(module))
