"""``fedshield redteam``: attack x defense grid, written as a scorecard.

Kept out of the server's import graph: this module imports the red team
only inside its handler.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from fedshield.errors import ConfigError, FedShieldError, param_error


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("redteam", help="attack your own federation: attack x defense grid -> scorecard")
    _arguments(p)
    p.set_defaults(handler=run)


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("scenario", help="scenario TOML with a [redteam] section, e.g. examples/redteam_heart.toml")
    p.add_argument("--attacks", help="comma-separated attacks (default: the scenario's redteam.attacks)")
    p.add_argument("--defenses", help="comma-separated defense bundles (default: the scenario's redteam.defenses)")
    p.add_argument("--out", default="runs/redteam", help="output directory (default: runs/redteam)")
    p.add_argument("--workers", type=int, default=1, help="parallel processes (default: 1)")
    p.add_argument("--rounds", type=int, help="override the number of rounds")
    p.add_argument("--seed", type=int, help="override the seed")
    p.add_argument("--data-dir", help="folder holding the datasets (or set FEDSHIELD_DATA_DIR)")
    p.add_argument("--privacy", action="store_true",
                   help="also run the privacy probe (gradient inversion, membership inference, FGSM/PGD) "
                        "against the scenario's own federation; [redteam.privacy] in the scenario sets it up")
    p.add_argument("--quiet", action="store_true", help="print only the output path")


def _names(value: str | None, default: Sequence[str], option: str) -> list[str]:
    if value is None:
        return list(default)
    names = [v.strip() for v in value.split(",") if v.strip()]
    if not names:
        raise param_error(option, "fedshield redteam", "a comma-separated list of names", value)
    return list(dict.fromkeys(names))


def run(args: argparse.Namespace) -> int:
    from fedshield.redteam.config import load_redteam
    from fedshield.redteam.runner import run_grid
    from fedshield.redteam.scorecard import build_scorecard, write_scorecard

    if args.rounds is not None and args.rounds < 1:
        raise param_error("--rounds", "fedshield redteam", "an int >= 1", args.rounds)
    if args.seed is not None and args.seed < 0:
        raise param_error("--seed", "fedshield redteam", "an int >= 0", args.seed)
    if args.workers < 1 or args.workers > (os.cpu_count() or 1) * 4:
        raise param_error("--workers", "fedshield redteam", f"an int in [1, {(os.cpu_count() or 1) * 4}]", args.workers)
    scenario, redteam = load_redteam(args.scenario, overrides={"rounds": args.rounds, "seed": args.seed})
    if args.data_dir is not None:
        if not Path(args.data_dir).is_dir():
            raise ConfigError(f"--data-dir {args.data_dir!r} is not a folder. Pass the folder holding the datasets.")
        scenario = scenario.model_copy(update={"data": scenario.data.model_copy(update={"data_dir": args.data_dir})})
    if getattr(args, "privacy", False):
        redteam = redteam.with_privacy_probe()
    probe = redteam.privacy_probe
    if probe is not None:  # an unknown [redteam.privacy] site stops the run before any training
        from fedshield.redteam.privacy.probe import probe_site
        from fedshield.redteam.runner import load_cached

        probe_site(probe, load_cached(scenario))
    attacks = _names(args.attacks, redteam.attacks, "--attacks")
    defenses = _names(args.defenses, redteam.defenses, "--defenses")
    if "none" not in attacks:
        attacks.insert(0, "none")  # every scorecard needs the clean baseline
    t0 = time.perf_counter()

    def progress(cell: dict) -> None:
        if not args.quiet:
            acc = cell.get("accuracy")
            status = f"error: {cell['error'].splitlines()[0]}" if cell.get("error") else f"acc {acc:.3f}"
            print(f"  {cell['attack']:>18} x {cell['defense']:<18} {status} ({cell['seconds']:.0f} s)", flush=True)

    if not args.quiet:
        print(f"{len(attacks)} attacks x {len(defenses)} defenses on {scenario.data.dataset}, {args.workers} worker(s)")
    cells = run_grid(scenario, redteam, attacks=attacks, defenses=defenses, workers=args.workers, on_cell=progress)
    privacy = _privacy_probe(scenario, probe, quiet=args.quiet) if probe is not None else None
    card = build_scorecard(cells, scenario=scenario, redteam=redteam, attacks=attacks, defenses=defenses,
                           seconds=time.perf_counter() - t0, privacy=privacy)
    out = write_scorecard(card, Path(args.out))
    if not args.quiet:
        for d, s in card["summary"].items():
            print(f"{d:>20}: clean {_f(s['clean_accuracy'])}  worst {_f(s['worst_case_accuracy'])} "
                  f"({s['worst_attack']})  backdoor {_f(s['max_backdoor_success'])}")
    print(f"Wrote {out}/scorecard.json and scorecard.html")
    failed = [c for c in cells if c.get("error")]
    return 1 if failed and len(failed) == len(cells) else 0


def _privacy_probe(scenario, probe, *, quiet: bool) -> dict:
    """The probe's section of the scorecard; a failure there is reported, not allowed to lose the grid."""
    import traceback

    from fedshield.redteam.privacy.probe import run_privacy_probe
    from fedshield.redteam.runner import load_cached

    if not quiet:
        print("privacy probe: training the scenario's federation with its own defenses, then attacking it",
              flush=True)
    try:
        p = run_privacy_probe(scenario, probe, dataset=load_cached(scenario))
    except FedShieldError as exc:
        p = {"error": f"{type(exc).__name__}: {exc}"}
    except Exception as exc:  # a bug in the probe must not lose the grid
        p = {"error": f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=4)}"}
    if not quiet:
        if p.get("error"):
            print(f"  privacy probe failed: {p['error'].splitlines()[0]}")
        else:
            inv, mia, adv = p["inversion"], p["membership"], p["adversarial"]
            if "skipped" in inv:
                inv_text = f"skipped ({inv['skipped']})"
            else:
                base = inv["reidentified_control"]
                inv_text = (f"PSNR {inv['psnr_mean']:.1f} dB (mean image {inv['reference_psnr_dataset_mean_image']:.1f}), "
                            f"SSIM {inv['ssim_mean']:.2f}, labels {inv['label_accuracy']:.2f}, re-identified "
                            f"{inv['reidentified']:.0%} (baseline {'n/a' if base is None else f'{base:.0%}'}) "
                            f"({inv['seconds']:.0f} s)")
            print("  inversion: " + inv_text)
            print("  membership: " + (f"skipped ({mia['skipped']})" if "skipped" in mia else
                                      f"AUC {mia['auc']:.3f}, TPR@1%FPR {mia['tpr_at_1pct_fpr']:.3f} "
                                      f"({mia['seconds']:.0f} s)"))
            print("  adversarial: " + (f"skipped ({adv['skipped']})" if "skipped" in adv else
                                       f"clean {adv['clean_accuracy']:.3f}, PGD "
                                       + ", ".join(f"{e:g}: {a:.3f}" for e, a in zip(adv["eps"], adv["pgd"]))
                                       + f" ({adv['seconds']:.0f} s)"))
    return p


def _f(x) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def main(argv: Sequence[str] | None = None) -> int:
    """Standalone entry (until ``fedshield.cli.main`` lists this module)."""
    parser = argparse.ArgumentParser(prog="fedshield redteam")
    _arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except FedShieldError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
