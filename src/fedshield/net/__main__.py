"""``python -m fedshield.net {ca,server,client}``: the deployment commands
without the full CLI (used by tests; ``fedshield ca|server|client`` once
registered in ``fedshield.cli.main``)."""

from __future__ import annotations

import argparse
import sys

from fedshield.errors import FedShieldError


def main(argv=None) -> int:
    from fedshield.cli import ca, serve

    parser = argparse.ArgumentParser(prog="python -m fedshield.net")
    sub = parser.add_subparsers(dest="command", required=True)
    ca.register(sub)
    serve.register(sub)
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except FedShieldError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
