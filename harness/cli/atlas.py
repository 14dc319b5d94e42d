"""The conflict atlas: which popular wheels break each other, where, and how.

    wheelclash atlas CORPUS [--target T] [--arch A] [-j N] [--shard I/N] [--resume RUN]
                            [--results DIR] [--repeat-failures N] [--editions DIR]
                            [--previous EDITION | --no-previous] [--screen [--group-size K]]
                            [--own-environments]
    wheelclash atlas edition RESULTS --corpus CORPUS [--editions DIR]
    wheelclash atlas diff OLD NEW

The first runs every ordered pair of the corpus's wheels in the dlopen modes local,
global-all and global-first, gives each failing cell more runs, and writes an edition
(results.json, summary.md and the page atlas.html) into the editions folder beside the
corpus. Each pair sees only its own wheels and their dependencies, as if installed on its
own: pairs whose wheels can be installed together without changing any pair's files share
one environment, each cell hiding the rest (harness/run/pools.py); --own-environments
installs every pair on its own instead. Cells whose environment is unchanged since the
previous edition (the same wheel files, inputs and cell-affecting harness files:
harness/run/reuse.py) are taken from it. With --screen, groups of wheels are imported
together first and only the pairs of failing groups (split until isolated:
harness/run/screen.py) run as pairs.
A shard writes no edition: merge the shards' results (`wheelclash merge`), then write one
with `atlas edition`, which first attributes again, from the results' own cells, the failing
cells that did not know whether a wheel fails alone (harness/analysis/reattribute.py; a
merge does that too, so this is for results merged before it did). `atlas diff` lists new
conflicts, fixed ones and changed verdicts between two editions.
"""

from __future__ import annotations

import argparse
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from harness import paths
from harness.analysis import atlas_diff
from harness.cli import options, progress_view
from harness.cli.output import print_plan, run_with_progress
from harness.errors import InputError
from harness.report import terminal
from harness.report.atlas_edition import PAGE_NAME, SUMMARY_NAME
from harness.report.atlas_write import write_edition
from harness.run import runner
from harness.run.reuse import Reused
from harness.run.runner import Backends
from harness.run.screen import Screening, screen, screening_line
from harness.scenario.atlas_pairs import AtlasOptions, pair_scenarios, screened_scenarios
from harness.scenario.config import Defaults
from harness.scenario.corpus import Corpus, load_corpus
from harness.scenario.load import MAX_COVERED, Expectation, Scenario
from harness.scenario.screen_groups import groups
from harness.scenario.tomlload import read_toml

EXIT_CODES_HELP: Final = """exit codes:
  0  the atlas ran (whatever the pairs did: conflicts are its findings, not failures);
     diff: nothing changed
  1  diff: some cell is a new conflict, fixed, or changed its verdict
  2  bad input or usage (the message names the file, the key and what to do)
  3  infrastructure failure (engine, image or supervisor); never blamed on the wheels
"""
DIFF: Final = "diff"
EDITION: Final = "edition"


@functools.cache
def defaults() -> dict[str, Any]:
    """harness/resources/atlas.toml."""
    return read_toml(paths.ATLAS_DEFAULTS)


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "inputs",
        nargs="+",
        metavar="CORPUS | edition RESULTS | diff OLD NEW",
        help="a corpus file to run; `edition RESULTS` to write an edition of merged results; "
        "`diff OLD NEW` to compare two editions",
    )
    group = parser.add_argument_group("where cells run")
    group.add_argument(
        "--backend",
        type=options.backend,
        default=None,
        help="auto (default: docker when an engine answers), docker or local",
    )
    group.add_argument(
        "--target",
        type=options.names,
        action="extend",
        metavar="T",
        help=f"the target the pairs run on (default {defaults()['target']})",
    )
    group.add_argument("--arch", type=options.arches, action="extend", metavar="A")
    group.add_argument("--engine", type=options.engine, action="append", metavar="ARCH=ENGINE")
    group.add_argument("-j", "--jobs", type=options.positive_int, default=1, metavar="N")
    group.add_argument(
        "--own-environments",
        action="store_true",
        help="install every pair and wheel in an environment of its own (slower), instead of "
        "sharing one among the pairs that can be installed together",
    )
    scale = parser.add_argument_group("at scale")
    scale.add_argument(
        "--shard", type=options.shard, metavar="I/N", help="run the I-th of N parts of the pairs"
    )
    scale.add_argument(
        "--resume",
        type=Path,
        metavar="RUN",
        help="finish a run of this corpus that was stopped (its folder)",
    )
    scale.add_argument(
        "--repeat-failures",
        type=options.positive_int,
        default=None,
        metavar="N",
        help="runs in all of each failing cell, to tell a steady verdict from a flake "
        f"(default {defaults()['repeat_failures']}; 1: no extra runs)",
    )
    scale.add_argument(
        "--previous",
        type=Path,
        metavar="EDITION",
        help="take unchanged pairs' cells from this edition (or run folder, or results.json); "
        "default: the latest edition of the same target and arch in the editions folder",
    )
    scale.add_argument(
        "--no-previous",
        action="store_true",
        help="take nothing from a previous edition: run every cell",
    )
    screening = parser.add_argument_group("screening")
    screening.add_argument(
        "--screen",
        action="store_true",
        help="import groups of wheels together first; run as pairs only the pairs that "
        "failing groups are split down to (and every wheel alone)",
    )
    screening.add_argument(
        "--group-size",
        type=options.positive_int,
        default=None,
        metavar="K",
        help=f"with --screen: wheels per group (default {defaults()['group_size']})",
    )
    out = parser.add_argument_group("results")
    out.add_argument("--results", type=Path, default=None, help="results root (default results)")
    out.add_argument(
        "--editions",
        type=Path,
        default=None,
        help=f"where editions go (default: the folder {defaults()['editions']!r} beside the "
        "corpus)",
    )
    out.add_argument(
        "--corpus",
        type=options.existing_file,
        default=None,
        help="with `edition`: the corpus the results are of",
    )
    out.add_argument("--print-plan", action="store_true", help="list the cells and stop")
    options.add_progress(parser)


@dataclass(frozen=True, kw_only=True)
class Edition:
    title: str
    description: str
    corpus: Path
    editions: Path


def _edition_of(corpus: Corpus, editions: Path | None) -> Edition:
    return Edition(
        title=f"Atlas {corpus.name}",
        description=corpus.description,
        corpus=corpus.path,
        editions=editions or corpus.path.parent / str(defaults()["editions"]),
    )


def execute(args: argparse.Namespace) -> int:
    first, *rest = args.inputs
    if first == DIFF:
        if len(rest) != 2:
            raise InputError("atlas diff takes two editions: wheelclash atlas diff OLD NEW")
        found = atlas_diff.diff_paths(Path(rest[0]), Path(rest[1]))
        print(atlas_diff.text(found))
        return found.exit_code
    if first == EDITION:
        if len(rest) != 1 or args.corpus is None:
            raise InputError(
                "atlas edition takes one results file or run folder, and --corpus: wheelclash "
                "atlas edition results/<run>-merged --corpus atlas/corpus.toml"
            )
        corpus = load_corpus(args.corpus)
        chosen = AtlasOptions(targets=(str(defaults()["target"]),))
        rules = _rules(pair_scenarios(corpus, chosen))  # the same on every target
        return _write(Path(rest[0]), _edition_of(corpus, args.editions), rules)
    if rest:
        raise InputError(
            f"atlas takes one corpus file, not {len(args.inputs)} arguments; to compare "
            "editions: wheelclash atlas diff OLD NEW"
        )
    if args.previous is not None and args.no_previous:
        raise InputError("--previous and --no-previous exclude each other; give one")
    return _run(Path(first), args)


def _run(corpus_path: Path, args: argparse.Namespace) -> int:
    corpus = load_corpus(corpus_path)
    project = Defaults.from_pyproject()
    targets = tuple(args.target or (defaults()["target"],))
    if len(targets) != 1:
        raise InputError(
            f"--target: an atlas edition is of one target, got {', '.join(targets)}; run the "
            "atlas once per target"
        )
    if args.arch and len(args.arch) != 1:
        raise InputError("--arch: an atlas edition is of one arch; run the atlas once per arch")
    chosen = AtlasOptions(
        targets=targets,
        arch=tuple(args.arch or ()),
        dlopen=tuple(defaults()["dlopen"]),
    )
    where = options.Placement(
        backend=args.backend or project.backend,
        targets=None,
        arches=tuple(args.arch) if args.arch else None,
        engines={**project.engines, **dict(args.engine or ())},
        jobs=args.jobs,
        results=args.results or project.results,
    )
    if args.print_plan and args.screen:
        return _print_groups(corpus, args.group_size or int(defaults()["group_size"]))
    screening = _screen(corpus, chosen, where, args)
    if screening is None:
        scenarios = pair_scenarios(corpus, chosen)
    else:
        scenarios = screened_scenarios(corpus, screening.to_run(), chosen)
    if args.print_plan:
        return print_plan(scenarios, where)
    repeat = args.repeat_failures or int(defaults()["repeat_failures"])
    request = where.request(
        scenarios,
        scenarios=(corpus.path,),  # recorded in run.json; the pairs themselves are `loaded`
        shard=args.shard,
        resume=args.resume,
        arches=where.arches,
        repeat_failures=repeat,
        incremental=True,
        previous=None if args.no_previous else args.previous,
        editions=None if args.no_previous else _edition_of(corpus, args.editions).editions,
        annotate=None if screening is None else screening.annotate,
        share_environments=not args.own_environments,
    )
    summary = run_with_progress(request, args)
    if screening is not None:
        print(screening_line(screening, summary.results))
    reused = Reused.read(summary.run_dir)
    if reused is not None:
        print(reused.line())
    print(terminal.summary_line(summary.results))
    print(f"results: {summary.results_path}")
    if summary.exit_code == runner.EXIT_INFRA:
        print("some cells are infra-error (the engine or harness failed, not the wheels)")
    if args.shard is not None:
        print(
            "a shard writes no edition: merge the shards' results (wheelclash merge …), then "
            f"wheelclash atlas edition <merged> --corpus {corpus.path}"
        )
        return runner.EXIT_INFRA if summary.exit_code == runner.EXIT_INFRA else 0
    infra = summary.exit_code == runner.EXIT_INFRA
    results_path = summary.results_path
    # The edition reads results.json back: let the run's own cells go first (an atlas's are
    # tens of MB; held, they would add to the edition's at the controller's peak).
    del summary
    code = _write(results_path, _edition_of(corpus, args.editions), _rules(scenarios))
    return runner.EXIT_INFRA if infra else code


def _screen(
    corpus: Corpus, chosen: AtlasOptions, where: options.Placement, args: argparse.Namespace
) -> Screening | None:
    """With --screen, the screening of the corpus's groups (None without)."""
    if not args.screen:
        if args.group_size is not None:
            raise InputError("--group-size is the size of screening's groups; add --screen")
        return None
    if args.shard is not None or args.resume is not None:
        raise InputError(
            "--screen runs the whole corpus in one process: it takes no --shard or --resume "
            "(run the exhaustive atlas to shard or resume it)"
        )
    size = args.group_size or int(defaults()["group_size"])
    if not 2 <= size <= MAX_COVERED:
        raise InputError(
            f"--group-size {size}: a group holds from two to {MAX_COVERED} wheels (its orders "
            "are a sequence covering array); give a size in that range"
        )
    backends = Backends(where.backend, None, where.engines)
    with progress_view.shown(options.progress_mode(args)):  # on stderr, as the run's
        return screen(corpus, chosen, backends, size, said=print, jobs=where.jobs)


def _print_groups(corpus: Corpus, size: int) -> int:
    """--print-plan with --screen: the groups and their orders (the pairs they lead to are
    known only once the groups ran)."""
    made = groups([w.id for w in corpus.wheels], size)
    modes = tuple(defaults()["dlopen"])
    for group in made:
        print(f"{group.name}: {' '.join(group.wheels)}")
        by_orders: dict[tuple[tuple[str, ...], ...], list[str]] = {}
        for dlopen in modes:
            by_orders.setdefault(group.orders_in(dlopen), []).append(dlopen)
        for orders, named in by_orders.items():
            print(f"  {', '.join(named)}:")
            print("".join(f"    {','.join(order)}\n" for order in orders), end="")
    cells = sum(len(g.orders_in(m)) for g in made for m in modes)
    wheels = len({w for group in made for w in group.wheels})
    print(
        f"{len(made)} groups of up to {size} wheels: each of the {wheels} wheels alone first "
        f"(once, in {modes[0]} mode), then {cells} group cells in {len(modes)} modes before any "
        "split; "
        "then the atlas's singleton cells and the pairs the failing groups are split down to"
    )
    return 0


def _rules(scenarios: Sequence[Scenario]) -> dict[str, tuple[Expectation, ...]]:
    """The scenarios' expectation rules, by name: a cell attributed again is judged with its
    scenario's (harness/analysis/reattribute.py)."""
    return {scenario.name: scenario.expectations for scenario in scenarios}


def _write(results: Path, edition: Edition, rules: Mapping[str, Sequence[Expectation]]) -> int:
    folder = write_edition(
        results,
        edition.editions,
        title=edition.title,
        corpus=edition.corpus,
        description=edition.description,
        rules=rules,
        said=print,
    )
    print(f"edition: {folder} (summary: {folder / SUMMARY_NAME}, page: {folder / PAGE_NAME})")
    return 0
