"""Run scenario files: every import order of each wheel set, each in a fresh interpreter."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from harness import report, runner
from harness.config import Defaults
from harness.engines import parse_option
from harness.errors import InputError
from harness.plan import expected_for
from harness.results import CellResult
from harness.runner import Backends, RunRequest, cells_for, load_all, selected
from harness.scenario import ARCHES


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "scenarios", nargs="+", type=Path, metavar="SCENARIO", help="scenario .toml files"
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
    if args.print_plan:
        backends = Backends(backend_name, targets, engines)
        for scenario in load_all(args.scenarios):
            backend = backends.for_scenario(scenario)
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
        arches=arches,
        engines=engines,
    )
    summary = runner.execute(request, _progress)
    if args.json:
        print(json.dumps(json.loads(summary.results_path.read_text()), indent=2))
        return summary.exit_code
    print(report.matrix(summary.results))
    unexpected = [r for r in summary.results if not r.matches_expectation]
    if unexpected:
        print("\nunexpected verdicts:")
        for result in unexpected:
            print(report.failure_block(result))
    print(f"\n{report.summary_line(summary.results)}")
    print(f"results: {summary.results_path}")
    return summary.exit_code
