"""Check wheels against each other: every import order, no scenario file needed.

Each argument is a local .whl file or, with --download, a requirement (`numpy==2.1.3`) that
pip downloads ahead, with its dependencies, for each target's Python and platform into a
cached wheelhouse; the run itself is offline. What a wheel imports is read from the wheel (its
public packages, as users import them); --import names it exactly.

With --against CORPUS (an atlas corpus file), the wheels are run against every corpus wheel
instead: each wheel alone, and each pair with a given wheel in it, both orders, in the
atlas's modes, attributed; the cells of environments unchanged since the corpus's latest
edition (the corpus wheels alone, above all) are taken from it (harness/run/reuse.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.cli import options
from harness.cli.atlas import defaults as atlas_defaults
from harness.cli.output import conclude, print_plan, run_with_progress
from harness.errors import InputError
from harness.run.reuse import Reused
from harness.scenario.atlas_pairs import ATLAS_MODES, AtlasOptions, against, against_scenarios
from harness.scenario.config import Defaults
from harness.scenario.corpus import load_corpus
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
    options.add_progress(parser)
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
    atlas = parser.add_argument_group("against an atlas corpus")
    atlas.add_argument(
        "--against",
        type=options.existing_file,
        metavar="CORPUS",
        help="run the wheels against every wheel of this atlas corpus (e.g. "
        "atlas/corpus.toml): alone and as pairs, both orders, in the modes local, global-all "
        "and global-first; unchanged cells come from the corpus's latest edition",
    )
    atlas.add_argument(
        "--own-environments",
        action="store_true",
        help="with --against: install every pair in an environment of its own (slower), "
        "instead of sharing one among the pairs that can be installed together",
    )
    atlas.add_argument(
        "--previous",
        type=Path,
        metavar="EDITION",
        help="with --against: take unchanged cells from this edition (default: the latest "
        "edition of the target beside the corpus)",
    )
    parser.add_argument(
        "--write-scenario",
        type=Path,
        metavar="FILE",
        help="also save what ran as a scenario file for `wheelclash run`",
    )


def execute(args: argparse.Namespace) -> int:
    where = options.Placement.from_args(args, Defaults.from_pyproject())
    if args.against is not None:
        return against_corpus(args, where)
    if args.previous is not None:
        raise InputError("--previous goes with --against CORPUS")
    if args.own_environments:
        raise InputError("--own-environments goes with --against CORPUS")
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
    request = where.request((scenario,), attribution_budget=args.attribution_budget)
    return conclude(run_with_progress(request, args), as_json=args.json)


def against_corpus(args: argparse.Namespace, where: options.Placement) -> int:
    """`check WHEEL… --against CORPUS`: the given wheels against every corpus wheel."""
    given = parse_inputs(args.inputs, args.download, args.requirements or (), least=1)
    corpus = against(load_corpus(args.against), given, args.exercise)
    targets = where.targets or (str(atlas_defaults()["target"]),)
    if len(targets) != 1:
        raise InputError(
            f"--target: --against runs on one target, as an atlas edition is of one; got "
            f"{', '.join(targets)}"
        )
    chosen = AtlasOptions(targets=targets, arch=where.arches or (), dlopen=ATLAS_MODES)
    scenarios = against_scenarios(corpus, [g.id for g in given], chosen)
    if args.print_plan:
        return print_plan(scenarios, where)
    request = where.request(
        scenarios,
        scenarios=(corpus.path,),
        arches=where.arches,
        attribution_budget=args.attribution_budget,
        incremental=True,
        previous=args.previous,
        editions=corpus.path.parent / str(atlas_defaults()["editions"]),
        share_environments=not args.own_environments,
    )
    summary = run_with_progress(request, args)
    reused = Reused.read(summary.run_dir)
    if reused is not None:
        print(reused.line(), file=sys.stderr if args.json else sys.stdout)
    return conclude(summary, as_json=args.json)
