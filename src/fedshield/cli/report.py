"""``fedshield report RUN_DIR``: the transparency report and the privacy impact assessment."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="write transparency.{html,json} and pia.{html,json} for a run directory")
    p.add_argument("run_dir", help="a directory written by `fedshield simulate --out DIR`")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from fedshield.reports.pia import assess
    from fedshield.reports.render_compliance import render_pia, render_transparency
    from fedshield.reports.run_dir import _atomic_write, write_json
    from fedshield.reports.transparency import build_transparency

    run_dir = Path(args.run_dir)
    transparency = build_transparency(run_dir)  # verifies the ledger first; raises if tampered
    pia = assess(transparency)
    write_json(run_dir / "transparency.json", transparency)
    _atomic_write(run_dir / "transparency.html", render_transparency(transparency).encode())
    write_json(run_dir / "pia.json", pia)
    _atomic_write(run_dir / "pia.html", render_pia(pia).encode())
    gaps = ", ".join(g["threat"] for g in pia["gaps"]) or "none"
    ledger = transparency["ledger"]
    print(f"Wrote {run_dir}/transparency.html, transparency.json, pia.html, pia.json")
    print(f"Ledger: {'verified, ' + str(ledger['entries']) + ' entries' if ledger else 'none'}; high risks: {gaps}")
    return 0
