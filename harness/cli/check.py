"""Check wheels against each other: every import order, no scenario file needed.

Each argument is a local .whl file or, with --download, a requirement (`numpy==2.1.3`) that
pip downloads ahead, with its dependencies, for each target's Python and platform into a
cached wheelhouse; the run itself is offline. What a wheel imports is read from the wheel (its
public packages, as users import them); --import names it exactly.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from harness.analysis import agreement
from harness.cli.run import _progress
from harness.errors import InputError
from harness.report import terminal as report
from harness.run import runner
from harness.run.runner import Backends, RunRequest, cells_for
from harness.scenario.config import Defaults
from harness.scenario.from_wheels import CheckOptions, parse_inputs, scenario_for, write_scenario
from harness.scenario.plan import expected_for


def _list(text: str | None) -> tuple[str, ...]:
    return tuple(part for part in (text or "").split(",") if part)


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "inputs", nargs="+", metavar="WHEEL_OR_REQUIREMENT", help=".whl files or requirements"
    )
    parser.add_argument(
        "--download",
        action="store_true",
        help="fetch requirements and their dependencies with `pip download` for each target "
        "(cached by a hash of the request); the cells then install offline from it",
    )
    parser.add_argument("--backend", default=None, help="auto (default), local or docker")
    parser.add_argument("--target", help="comma-separated targets, e.g. debian:bookworm")
    parser.add_argument("--arch", help="comma-separated archs, e.g. x86_64,aarch64")
    parser.add_argument(
        "--dlopen",
        default="local",
        help="comma-separated dlopen modes: local, global-all, global:<wheel id> (default local)",
    )
    parser.add_argument(
        "--host", default="plain", help="comma-separated: plain, preload-libstdcxx (default plain)"
    )
    parser.add_argument(
        "--exercise",
        default="",
        metavar="CODE",
        help="Python code run in each cell after all imports, e.g. 'import numpy; numpy.ones(3)'",
    )
    parser.add_argument(
        "--pairs",
        action="store_true",
        help="run both orders of every pair instead of every order of the whole set "
        "(all wheels installed together once)",
    )
    parser.add_argument(
        "--import",
        dest="imports",
        action="append",
        default=[],
        metavar="ID=MODULE[,MODULE…]",
        help="import exactly these modules, in this order, for the wheel with this id (the "
        "project name with _ for -, e.g. google_re2=re2); private ones allowed; repeatable. "
        "Default: the wheel's public packages, read from it",
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs of each cell (default 1)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per cell")
    parser.add_argument("--no-victims", action="store_true", help="skip CPython's own modules")
    parser.add_argument(
        "--write-scenario",
        type=Path,
        metavar="FILE",
        help="also save what ran as a scenario file for `wheelclash run`",
    )
    parser.add_argument("--results", type=Path, default=None, help="results root")
    parser.add_argument("--json", action="store_true", help="print results.json to stdout")
    parser.add_argument("--print-plan", action="store_true", help="list the cells and stop")


def execute(args: argparse.Namespace) -> int:
    defaults = Defaults.from_pyproject()
    if args.repeat < 1 or args.timeout <= 0:
        raise InputError("--repeat must be at least 1 and --timeout positive")
    inputs = parse_inputs(args.inputs, args.download)
    options = CheckOptions(
        targets=_list(args.target) or defaults.targets or (),
        arch=_list(args.arch),
        dlopen=_list(args.dlopen) or ("local",),
        host=_list(args.host) or ("plain",),
        exercise=args.exercise,
        repeat=args.repeat,
        timeout_s=args.timeout,
        victims=not args.no_victims,
        pairs=args.pairs,
        imports=tuple(args.imports),
    )
    scenario, _ = scenario_for(inputs, options)
    if args.write_scenario:
        write_scenario(args.write_scenario, inputs, options)
        print(f"scenario: {args.write_scenario}", file=sys.stderr)
    scenarios = (scenario,)
    backend_name = args.backend or defaults.backend
    if args.print_plan:
        backends = Backends(backend_name, options.targets or None)
        for scenario in scenarios:
            for cell in cells_for(scenario, backends.for_scenario(scenario), None):
                print(f"{cell.id}  expect {expected_for(scenario.expectations, cell)}")
        return 0
    request = RunRequest(
        scenarios=(),
        loaded=scenarios,
        backend=backend_name,
        results_root=args.results or defaults.results,
        command=tuple(sys.argv),
    )
    summary = runner.execute(request, _progress)
    if args.json:
        print(json.dumps(json.loads(summary.results_path.read_text()), indent=2))
        return summary.exit_code
    print(report.matrix(summary.results))
    failing = [r for r in summary.results if not r.matches_expectation]
    if failing:
        print("\nfailing cells:")
        for result in failing:
            print(report.failure_block(result))
    for line in agreement.summary_lines(summary.results_path):
        print(line)
    print(f"\n{report.summary_line(summary.results)}")
    print(f"results: {summary.results_path}")
    return summary.exit_code
