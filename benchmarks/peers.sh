#!/usr/bin/env bash
# (Re)create .venv-peers: the venv benchmarks/aggregators.py runs in, holding
# FedShield next to the peers it is timed against (ByzFL 0.0.11, Flower 1.42).
#
#   bash benchmarks/peers.sh                 # from the repository root
#   TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu bash benchmarks/peers.sh
#
# Why a separate venv: Flower and ByzFL pin or pull packages FedShield's own
# venv must not depend on. numba is installed too: FedShield's coordinate-wise
# kernels use it (without it they fall back to a slower numpy path).
# ByzFL's package __init__ imports torchvision, whose compiled ops may not load
# next to a CPU-only torch; the benchmark therefore imports byzfl.aggregators
# directly and never needs torchvision to work.
set -euo pipefail

cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3.11}"
VENV="${VENV:-.venv-peers}"

rm -rf "$VENV"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/pip" install --upgrade pip
if [[ -n "${TORCH_INDEX_URL:-}" ]]; then
    "$VENV/bin/pip" install --index-url "$TORCH_INDEX_URL" torch==2.13.0
fi
# Flower 1.42 pins protobuf < 7 while FedShield's gRPC code needs protobuf 7: FedShield goes in
# without its dependency list (the benchmarks import only its kernels), its kernels' needs by hand.
"$VENV/bin/pip" install torch==2.13.0 flwr==1.42.0 byzfl==0.0.11 numba
"$VENV/bin/pip" install --no-deps -e .
"$VENV/bin/pip" install scipy scikit-learn "pydantic>=2.6" rich cryptography
"$VENV/bin/python" - <<'PY'
import importlib.metadata as md
for pkg in ("torch", "flwr", "byzfl", "numba", "fedshield"):
    print(f"{pkg:10s} {md.version(pkg)}")
PY
echo done
