"""``fedshield server --config server.toml`` and ``fedshield client --config site.toml``."""

from __future__ import annotations

import argparse
import logging


def register(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("server", help="run the coordinator over mutual-TLS gRPC")
    s.add_argument("--config", required=True, help="server TOML (see examples/deploy/server.toml)")
    s.add_argument("--verbose", action="store_true")
    s.set_defaults(handler=_server)
    c = sub.add_parser("client", help="run one hospital site against a coordinator")
    c.add_argument("--config", required=True, help="site TOML (see examples/deploy/site.toml)")
    c.add_argument("--verbose", action="store_true")
    c.set_defaults(handler=_client)


def _logging(verbose: bool) -> None:
    # force: a library imported earlier may already have configured the root logger.
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s", force=True)


def _server(args) -> int:
    from fedshield.net.config import load_server_config
    from fedshield.net.server import serve, validate_server

    _logging(args.verbose)
    cfg = load_server_config(args.config)
    validate_server(cfg)
    run = serve(cfg, on_port=lambda port: print(f"listening on port {port}", flush=True))
    last = run.history[-1] if run.history else {}
    print(f"run {run.coordinator.run_id}: {len(run.history)} rounds; last model {last.get('model_sha256', '-')}")
    return 0 if run.stopped_early is None else 7


def _client(args) -> int:
    from fedshield.net.client import SiteRunner
    from fedshield.net.config import load_site_config

    _logging(args.verbose)
    runner = SiteRunner(load_site_config(args.config))
    try:
        return runner.run()
    finally:
        runner.close()
