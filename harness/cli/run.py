"""Run scenario files: every import order of each wheel set, each in a fresh interpreter."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.analysis import baseline
from harness.cli import options
from harness.cli.output import conclude, print_plan, run_with_progress
from harness.common.ids import CellId
from harness.errors import InputError
from harness.run.runner import RunRequest, load_all
from harness.scenario.config import Defaults


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "scenarios",
        nargs="*",
        type=Path,
        metavar="SCENARIO",
        help="scenario .toml files (none with --resume)",
    )
    options.add_placement(parser)
    options.add_output(parser)
    options.add_progress(parser)
    cells = parser.add_argument_group("which cells")
    cells.add_argument(
        "--select",
        action="append",
        metavar="GLOB",
        help="run only cells whose id matches (repeatable), e.g. 'call-once/*/global:a/*'",
    )
    cells.add_argument(
        "--shard",
        type=options.shard,
        metavar="K/N",
        help="run only shard K of N (whole groups, deterministic); join them with "
        "`wheelclash merge`",
    )
    cells.add_argument(
        "--cover",
        type=int,
        metavar="T",
        help="run a T-way sequence covering array of import orders instead of every order "
        "(replaces each scenario's `[matrix] orders`)",
    )
    cells.add_argument(
        "--resume",
        type=Path,
        metavar="RUN_DIR",
        help="finish an interrupted run: run only the cells missing from RUN_DIR/cells.jsonl, "
        "with that run's scenarios and options, and write its complete results.json",
    )
    options.add_attribution(parser)
    evidence = parser.add_argument_group("evidence")
    evidence.add_argument(
        "--debug-bindings",
        action="store_true",
        help="re-run each failing cell with LD_DEBUG=bindings and report which runtime symbols "
        "(std::, __once_*, __cxa_*, _Unwind_*) the loader bound to an extension module",
    )
    evidence.add_argument(
        "--no-capture",
        action="store_true",
        help="keep no crash evidence (core, backtrace, library map) for failing cells",
    )
    evidence.add_argument(
        "--baseline",
        type=Path,
        default=None,
        metavar="RESULTS_JSON",
        help="compare with an earlier run's results.json: each cell regressed, fixed, changed, "
        "unchanged, new or gone; the exit code is then 1 only for regressions",
    )
    evidence.add_argument(
        "--baseline-kinds",
        type=options.failure_kinds,
        action="extend",
        metavar="K[,K…]",
        help="with --baseline: count a regression only when the cell's failures are of these "
        "kinds (single-wheel, cross-wheel); others are listed as ignored",
    )


def execute(args: argparse.Namespace) -> int:
    where = options.Placement.from_args(args, Defaults.from_pyproject())
    select = tuple(args.select or ())
    if args.resume and args.scenarios:
        raise InputError("--resume takes the scenarios of the run it resumes; give no SCENARIO")
    if not args.resume and not args.scenarios:
        raise InputError("give one or more scenario .toml files (or --resume RUN_DIR)")
    if args.baseline_kinds and not args.baseline:
        raise InputError("--baseline-kinds limits the regressions of --baseline; give both")
    if args.print_plan:
        return print_plan(load_all(args.scenarios, args.cover), where, select)
    request = RunRequest(
        scenarios=tuple(args.scenarios),
        backend=where.backend,
        results_root=where.results,
        select=select,
        targets=where.targets,
        command=tuple(sys.argv),
        jobs=where.jobs,
        shard=args.shard,
        cover=args.cover,
        resume=args.resume,
        capture=not args.no_capture,
        debug_bindings=args.debug_bindings,
        arches=where.arches,
        engines=where.engines,
        attribution_budget=args.attribution_budget,
    )
    before = baseline.load_baseline(args.baseline) if args.baseline else None
    summary = run_with_progress(request, args)
    comparison = None
    if before is not None:
        current = baseline.verdict_sets(
            (CellId.parse(r.id), r.outcome.verdict) for r in summary.results
        )
        kinds = baseline.failure_kinds((CellId.parse(r.id), r.attribution) for r in summary.results)
        comparison = baseline.compare(
            str(args.baseline), before, current, kinds, args.baseline_kinds or ()
        )
        baseline.store(summary.results_path, comparison)
    return conclude(summary, as_json=args.json, comparison=comparison)
