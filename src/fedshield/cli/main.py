"""``fedshield`` entry point: subcommands, and FedShieldError -> exit code.

Each subcommand module exposes ``register(subparsers)`` and sets a handler that
returns an exit code; errors a user can act on are printed as one line, never
as a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from fedshield import __version__
from fedshield.errors import FedShieldError

# Subcommand modules, in help order. Each has register(subparsers).
_COMMANDS = (
    "fedshield.cli.simulate",
    "fedshield.cli.report",
    "fedshield.cli.audit",
    "fedshield.cli.redteam",
    "fedshield.cli.ca",
    "fedshield.cli.he",
    "fedshield.cli.serve",
)

EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fedshield", description="Secure federated learning for healthcare diagnostics.")
    parser.add_argument("--version", action="version", version=f"fedshield {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMANDS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        return int(args.handler(args) or 0)
    except FedShieldError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
