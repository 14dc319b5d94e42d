"""Check wheels against each other: every import order, no scenario file needed.

Each argument is a local .whl file or, with --download, a requirement (`numpy==2.1.3`) that
pip downloads ahead, with its dependencies, for each target's Python and platform into a
cached wheelhouse; the run itself is offline. What a wheel imports is read from the wheel (its
public packages, as users import them); --import names it exactly.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.cli import options
from harness.cli.output import conclude, print_plan, progress
from harness.run import runner
from harness.run.runner import RunRequest
from harness.scenario.config import Defaults
from harness.scenario.from_wheels import CheckOptions, parse_inputs, scenario_for, write_scenario


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "inputs", nargs="*", metavar="WHEEL_OR_REQUIREMENT", help=".whl files or requirements"
    )
    given = parser.add_argument_group("what to check")
    given.add_argument(
        "--download",
        action="store_true",
        help="fetch requirements and their dependencies with `pip download` for each target "
        "(cached by a hash of the request); the cells then install offline from it",
    )
    given.add_argument(
        "--requirements",
        type=options.requirements_file,
        action="extend",
        metavar="FILE",
        help="check the requirements in FILE too (one a line; `#` comments and blank lines "
        "are skipped), downloaded as with --download (repeatable)",
    )
    given.add_argument(
        "--constraint",
        type=options.existing_file,
        action="append",
        metavar="FILE",
        help="a pip constraints file for downloading the requirements (repeatable)",
    )
    options.add_placement(parser)
    options.add_output(parser)
    cells = parser.add_argument_group("the cells")
    cells.add_argument(
        "--dlopen",
        type=options.dlopen_modes,
        action="extend",
        metavar="M[,M…]",
        help="dlopen modes: local, global-all, global-first (the first wheel of each order), "
        "global:<wheel id> (repeatable; default local)",
    )
    cells.add_argument(
        "--host",
        type=options.host_modes,
        action="extend",
        metavar="H[,H…]",
        help="host modes: plain, preload-libstdcxx (repeatable; default plain)",
    )
    cells.add_argument(
        "--exercise",
        default="",
        metavar="CODE",
        help="Python code run in each cell after all imports, e.g. 'import numpy; numpy.ones(3)'",
    )
    cells.add_argument(
        "--pairs",
        action="store_true",
        help="run both orders of every pair instead of every order of the whole set "
        "(all wheels installed together once)",
    )
    cells.add_argument(
        "--import",
        dest="imports",
        action="append",
        default=[],
        metavar="ID=MODULE[,MODULE…]",
        help="import exactly these modules, in this order, for the wheel with this id (the "
        "project name with _ for -, e.g. google_re2=re2); private ones allowed; repeatable. "
        "Default: the wheel's public packages, read from it",
    )
    cells.add_argument(
        "--repeat", type=options.positive_int, default=1, help="runs of each cell (default 1)"
    )
    cells.add_argument(
        "--timeout", type=options.positive_float, default=60.0, help="seconds per cell"
    )
    cells.add_argument("--no-victims", action="store_true", help="skip CPython's own modules")
    cells.add_argument(
        "--no-singletons",
        action="store_true",
        help="do not also run each wheel alone in each mode (the singleton cells that tell a "
        "wheel failing alone from wheels failing together); attribution then runs the "
        "singletons it needs within --attribution-budget",
    )
    options.add_attribution(parser)
    parser.add_argument(
        "--write-scenario",
        type=Path,
        metavar="FILE",
        help="also save what ran as a scenario file for `wheelclash run`",
    )


def execute(args: argparse.Namespace) -> int:
    where = options.Placement.from_args(args, Defaults.from_pyproject())
    inputs = parse_inputs(args.inputs, args.download, args.requirements or ())
    check = CheckOptions(
        targets=where.targets or (),
        arch=where.arches or (),
        dlopen=tuple(args.dlopen or ("local",)),
        host=tuple(args.host or ("plain",)),
        exercise=args.exercise,
        repeat=args.repeat,
        timeout_s=args.timeout,
        victims=not args.no_victims,
        singletons=not args.no_singletons,
        pairs=args.pairs,
        constraints=tuple(args.constraint or ()),
        imports=tuple(args.imports),
    )
    scenario, _ = scenario_for(inputs, check)
    if args.write_scenario:
        write_scenario(args.write_scenario, inputs, check)
        print(f"scenario: {args.write_scenario}", file=sys.stderr)
    if args.print_plan:
        return print_plan((scenario,), where)
    request = RunRequest(
        scenarios=(),
        loaded=(scenario,),
        backend=where.backend,
        results_root=where.results,
        command=tuple(sys.argv),
        jobs=where.jobs,
        engines=where.engines,
        attribution_budget=args.attribution_budget,
    )
    return conclude(runner.execute(request, progress), as_json=args.json)
