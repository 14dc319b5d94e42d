"""Run scenario files: every import order of each wheel set, each in a fresh interpreter."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from harness.analysis import agreement, baseline
from harness.common.ids import CellId
from harness.errors import InputError
from harness.evidence.results import CellResult
from harness.report import terminal as report
from harness.report.write import write_reports
from harness.run import runner
from harness.run.runner import Backends, RunRequest, cells_for, load_all, selected
from harness.run.shards import Shard
from harness.scenario.config import Defaults
from harness.scenario.engine_option import parse_option
from harness.scenario.load import ARCHES
from harness.scenario.plan import coverage, expected_for


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "scenarios",
        nargs="*",
        type=Path,
        metavar="SCENARIO",
        help="scenario .toml files (none with --resume)",
    )
    parser.add_argument(
        "--backend",
        default=None,
        help="auto (docker when an engine answers and the scenarios name container targets, "
        "else local), local (this machine's Python) or docker; default from "
        "[tool.wheelclash] in pyproject.toml, else auto",
    )
    parser.add_argument(
        "--results", type=Path, default=None, help="results root (default: results)"
    )
    parser.add_argument(
        "--select",
        action="append",
        default=[],
        metavar="GLOB",
        help="run only cells whose id matches (repeatable), e.g. 'call-once/*/global:a/*'",
    )
    parser.add_argument(
        "--target", help="comma-separated targets replacing the scenarios' own, e.g. debian:trixie"
    )
    parser.add_argument(
        "--debug-bindings",
        action="store_true",
        help="re-run each failing cell with LD_DEBUG=bindings and report which runtime symbols "
        "(std::, __once_*, __cxa_*, _Unwind_*) the loader bound to an extension module",
    )
    parser.add_argument(
        "--no-capture",
        action="store_true",
        help="keep no crash evidence (core, backtrace, library map) for failing cells",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        default=None,
        metavar="RESULTS_JSON",
        help="compare with an earlier run's results.json: each cell regressed, fixed, changed, "
        "unchanged, new or gone; the exit code is then 1 only for regressions",
    )
    parser.add_argument(
        "--arch",
        help="comma-separated arches replacing the scenarios' own (docker backend), e.g. "
        "aarch64; a foreign arch runs under qemu-user unless --engine maps it",
    )
    parser.add_argument(
        "--engine",
        action="append",
        default=[],
        metavar="ARCH=ENGINE",
        help="run ARCH's cells on another Docker engine: a URL (ssh://user@arm-box, "
        "tcp://host:2376, unix:///path.sock) or a docker context name (repeatable; added to "
        "[tool.wheelclash] engines)",
    )
    parser.add_argument("--json", action="store_true", help="print results.json to stdout")
    parser.add_argument("--print-plan", action="store_true", help="list the cells and stop")
    parser.add_argument(
        "-j",
        "--jobs",
        type=int,
        default=1,
        metavar="N",
        help="run N groups (one venv or container each) at once (default 1)",
    )
    parser.add_argument(
        "--shard",
        metavar="K/N",
        help="run only shard K of N (whole groups, deterministic); join them with "
        "`wheelclash merge`",
    )
    parser.add_argument(
        "--cover",
        type=int,
        metavar="T",
        help="run a T-way sequence covering array of import orders instead of every order "
        "(replaces each scenario's `[matrix] orders`)",
    )
    parser.add_argument(
        "--resume",
        type=Path,
        metavar="RUN_DIR",
        help="finish an interrupted run: run only the cells missing from RUN_DIR/cells.jsonl, "
        "with that run's scenarios and options, and write its complete results.json",
    )


def _progress(result: CellResult, done: int, total: int) -> None:
    if sys.stderr.isatty():
        end = "\n" if done == total else ""
        print(f"\r[{done}/{total}] {result.id[:70]:<70} {result.verdict}", end=end, file=sys.stderr)


def execute(args: argparse.Namespace) -> int:
    defaults = Defaults.from_pyproject()
    targets = tuple(t for t in args.target.split(",") if t) if args.target else defaults.targets
    backend_name = args.backend or defaults.backend
    arches = tuple(a for a in args.arch.split(",") if a) if args.arch else None
    for arch in arches or ():
        if arch not in ARCHES:
            raise InputError(f"--arch {arch}: unknown arch; valid: {', '.join(ARCHES)}")
    engines = {**defaults.engines, **parse_option(args.engine, ARCHES)}
    if args.resume and args.scenarios:
        raise InputError("--resume takes the scenarios of the run it resumes; give no SCENARIO")
    if not args.resume and not args.scenarios:
        raise InputError("give one or more scenario .toml files (or --resume RUN_DIR)")
    if args.jobs < 1:
        raise InputError(f"--jobs {args.jobs}: give 1 or more")
    if args.print_plan:
        backends = Backends(backend_name, targets, engines)
        for scenario in load_all(args.scenarios, args.cover):
            backend = backends.for_scenario(scenario)
            covered = coverage(scenario)
            if covered.strength is not None:
                print(f"# {scenario.name}: {covered.describe()}")
            for cell in selected(cells_for(scenario, backend, targets, arches), args.select):
                print(f"{cell.id}  expect {expected_for(scenario.expectations, cell)}")
        return 0
    request = RunRequest(
        scenarios=tuple(args.scenarios),
        backend=backend_name,
        results_root=args.results or defaults.results,
        select=tuple(args.select),
        targets=targets,
        command=tuple(sys.argv),
        jobs=args.jobs,
        shard=Shard.parse(args.shard) if args.shard else None,
        cover=args.cover,
        resume=args.resume,
        capture=not args.no_capture,
        debug_bindings=args.debug_bindings,
        arches=arches,
        engines=engines,
    )
    before = baseline.load_baseline(args.baseline) if args.baseline else None
    summary = runner.execute(request, _progress)
    comparison = None
    if before is not None:
        current = baseline.verdict_sets((CellId.parse(r.id), r.verdict) for r in summary.results)
        comparison = baseline.compare(str(args.baseline), before, current)
        baseline.store(summary.results_path, comparison)
    html_path, markdown_path = write_reports(summary.results_path)
    exit_code = baseline.exit_code(summary.exit_code, comparison)
    if args.json:
        print(json.dumps(json.loads(summary.results_path.read_text()), indent=2))
        return exit_code
    print(report.matrix(summary.results))
    unexpected = [r for r in summary.results if not r.matches_expectation]
    if unexpected:
        print("\nunexpected verdicts:")
        for result in unexpected:
            print(report.failure_block(result))
        print(f"\nreproduce one without wheelclash: wheelclash repro '{unexpected[0].id}'")
    for line in agreement.summary_lines(summary.results_path):
        print(line)
    print(f"\n{report.summary_line(summary.results)}")
    for name, covered in summary.coverage:
        if covered.strength is not None:
            print(f"{name}: {covered.describe()}")
    captured = sum(bool(r.artefacts) for r in summary.results)
    if captured:
        print(f"crash evidence of {captured} failing cells: {summary.run_dir}/<cell>/")
    if comparison is not None:
        print(baseline.text(comparison))
    print(f"results: {summary.results_path}")
    print(f"report: {html_path} (summary: {markdown_path.name})")
    return exit_code
