"""``fedshield simulate``: run a scenario in this process and write the run dir."""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from fedshield.config import load_scenario
from fedshield.errors import param_error


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("simulate", help="run a federation in this process (default: breast-cancer, 5 sites)")
    p.add_argument("scenario", nargs="?", help="scenario TOML file (default: the embedded breast-cancer scenario)")
    p.add_argument("--rounds", type=int, help="override the number of rounds")
    p.add_argument("--seed", type=int, help="override the seed")
    p.add_argument("--data-dir", help="folder holding the datasets (or set FEDSHIELD_DATA_DIR)")
    p.add_argument("--out", default="runs/latest", help="output directory (default: runs/latest)")
    p.add_argument("--quiet", action="store_true", help="no progress bar or table")
    p.set_defaults(handler=run)


def _fmt(x) -> str:
    return "n/a" if x is None or x != x else f"{x:.3f}"


def run(args: argparse.Namespace) -> int:
    if args.rounds is not None and args.rounds < 1:
        raise param_error("--rounds", "fedshield simulate", "an int >= 1", args.rounds)
    if args.seed is not None and args.seed < 0:
        raise param_error("--seed", "fedshield simulate", "an int >= 0", args.seed)
    scenario = load_scenario(args.scenario, overrides={"rounds": args.rounds, "seed": args.seed})
    if args.data_dir is not None:
        scenario = scenario.model_copy(update={"data": scenario.data.model_copy(update={"data_dir": args.data_dir})})
    console = Console(stderr=False, quiet=args.quiet)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.work.", dir=out.parent))
    try:
        return _run_in(scenario, args, console, out, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _print_privacy(console, scenario, result) -> None:
    from fedshield.simulation import add_utility_cost

    p = result.extra["privacy"]
    if scenario.privacy.compare_without_dp:
        console.print("Running the same scenario without DP (same seed) to measure the utility cost ...")
        add_utility_cost(result)
    spent = ", ".join(f"{sid} {eps:.3g}/{p['budgets'][sid]['epsilon']:g}" for sid, eps in p["final_epsilon"].items())
    console.print(f"[bold]Privacy[/] ({p['mode']}-level, {p['accountant']}): epsilon spent/budget per site: {spent}")
    u = p.get("utility")
    if u and u["accuracy_cost"] is not None:
        console.print(f"Utility cost of DP: test accuracy {u['without_dp']['accuracy']:.3f} without DP -> "
                      f"{u['with_dp']['accuracy']:.3f} with DP (cost {u['accuracy_cost']:+.3f})")


def _run_in(scenario, args, console, out: Path, work: Path) -> int:
    from fedshield.reports import write_run
    from fedshield.reports.audit import LEDGER_FILE, PUBLIC_KEY_FILE, open_audit_sink, record_model_release, record_run_config
    from fedshield.simulation import build_federation, run_federation

    sink = open_audit_sink(scenario, work_dir=work, out_dir=out) if scenario.audit.enabled else None
    if sink is None:
        federation = build_federation(scenario)
    else:
        from fedshield.ledger import TreeHeadWitness, load_public_key
        from fedshield.ledger.gossip import HeadPublisher, WitnessedSite

        # Each site trusts the coordinator's public key (obtained out of band) and
        # checks every head it is sent against the last one it saw.
        public_key = load_public_key(work / PUBLIC_KEY_FILE)
        federation = build_federation(
            scenario, sinks=[sink],
            site_wrapper=lambda site, i: WitnessedSite(site, TreeHeadWitness(public_key=public_key)))
        federation.stages.fit_config = HeadPublisher(sink, federation.stages.fit_config)
        record_run_config(sink, scenario, federation.state.run_id, [s.site_id for s in federation.dataset.sites])
        sink.sign_head(round_num=0)  # the run's configuration is what every site checks first
    table = Table(title=f"{scenario.name}: {federation.dataset.name}, {len(federation.sites)} sites, seed {scenario.seed}")
    for col in ("round", "sites", "rejected", "mean site acc", "pooled acc", "pooled AUC", "sec"):
        table.add_column(col, justify="right")
    with Progress(TextColumn("[bold]round"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True, disable=args.quiet) as progress:
        task = progress.add_task("rounds", total=scenario.rounds)

        def on_round(rec) -> None:
            ev = rec.evaluation
            pooled = ev.get("central_test") or ev.get("pooled") or {}
            rejected = sum(v["decision"] == "rejected" for v in rec.verdicts)
            table.add_row(str(rec.round_num), str(len(rec.participants)), str(rejected),
                          _fmt(ev.get("mean_site_accuracy")), _fmt(pooled.get("accuracy")),
                          _fmt(pooled.get("auc")), f"{rec.seconds:.2f}")
            progress.advance(task)

        result = run_federation(federation, on_round=on_round)
    console.print(table)
    if "privacy" in result.extra:
        _print_privacy(console, scenario, result)
    if "secure_aggregation" in result.extra:
        sa = result.extra["secure_aggregation"]
        console.print(f"[bold]Secure aggregation[/] ({sa['protocol']}): {sa['summary']}")
    include: tuple[Path, ...] = ()
    if sink is not None:
        if result.history:
            record_model_release(sink, round_num=result.history[-1].round_num, model_sha256=result.history[-1].model_sha256)
        sink.close()
        include = (work / LEDGER_FILE, work / PUBLIC_KEY_FILE)
    out = write_run(result, out, include=include)
    if result.stopped_early:
        console.print(f"[yellow]Run stopped early:[/] {result.stopped_early}")
    ledger = f", {LEDGER_FILE}" if sink is not None else ""
    console.print(f"Wrote {out}/ (metrics.json, report.html, model.pt{ledger}) in {result.seconds:.1f} s")
    return 0
