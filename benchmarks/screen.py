"""Screening (`wheelclash atlas --screen`) against the exhaustive atlas, measured in one run.

    .venv/bin/python benchmarks/screen.py [--healthy 10] [--group-size 10] [-j 2] [--keep DIR]
    .venv/bin/python benchmarks/screen.py --compare EXHAUSTIVE SCREENED

With --compare, nothing runs: two editions (or results.json files) of one corpus, one made
by `wheelclash atlas` and one by `wheelclash atlas --screen`, are compared the same way (for
corpora too large to run twice in one sitting, such as atlas/corpus.toml).

The corpus is made of the repository's fixture wheels, built here for the local backend: the
call-once pair a and b (either RTLD_GLOBAL before the other segfaults while the other loads)
among --healthy well-behaved wheels (the healthy fixture under distinct module names), with
b in the middle of the corpus. Both runs are real atlas runs on the local backend with the
same -j and no previous edition; the exhaustive one runs first, then the screened one.

Printed: the cells each ran (planned cells, their extra runs, attribution's runs, and for
screening its group and split cells), their wall time, and the ratios; the failing pairs
(mode and pair, culprits both wheels) of the exhaustive edition that screening missed; and
the interference it met: parts that failed with no failing wheel or pair in them, isolated
pairs the pair cells did not confirm, and group cells whose crash hid the wheels after it.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from harness.build.toolchains import load_catalogue
from harness.build.wheels import BuiltWheel
from harness.cells.backends.local import LocalBackend
from harness.cli import main
from harness.evidence.results import CellResult, load_results
from harness.report.culprits import cross_wheel_pairs
from harness.run.runner import wheels_for
from harness.scenario.load import load_scenario
from harness.scenario.plan import plan

SCENARIOS: Final = Path(__file__).resolve().parent.parent / "scenarios"


@dataclass(frozen=True, kw_only=True)
class Measured:
    cells: int
    wall_s: float
    failing: frozenset[tuple[str, frozenset[str]]]
    document: dict[str, Any]
    results: tuple[CellResult, ...] = ()


def built_for(name: str, backend: LocalBackend) -> dict[str, BuiltWheel]:
    """The wheels of a shipped scenario, built (or found in the cache) for this machine."""
    scenario = load_scenario(SCENARIOS / f"{name}.toml", load_catalogue())
    cell = plan(scenario, targets=["host"])[0]
    return {w.wheel_id: w for w in wheels_for(scenario, cell, backend)}


def write_corpus(folder: Path, healthy: int) -> tuple[Path, dict[str, str]]:
    """The corpus file, and each wheel id's module."""
    backend = LocalBackend()
    once = built_for("call-once", backend)
    well = built_for("healthy-ten", backend)
    wheels: list[tuple[str, BuiltWheel]] = [(f"h{i}", well[f"h{i}"]) for i in range(healthy)]
    wheels.insert(0, ("a", once["a"]))
    wheels.insert(len(wheels) // 2 + 1, ("b", once["b"]))
    text = 'name = "screen-bench"\ntimeout = 60\n'
    for wheel_id, wheel in wheels:
        text += f'\n[[wheel]]\nid = "{wheel_id}"\nwheel = "{wheel.path}"\n'
        text += f'exercise = "import {wheel.module}; {wheel.module}.exercise()"\n'
    path = folder / "corpus.toml"
    path.write_text(text)
    return path, {wheel_id: wheel.module for wheel_id, wheel in wheels}


def run(corpus: Path, folder: Path, jobs: int, *extra: str) -> Measured:
    editions = folder / "editions"
    argv = ["atlas", str(corpus), "--backend", "local", "--no-previous", "-j", str(jobs)]
    argv += ["--results", str(folder / "results"), "--editions", str(editions), *extra]
    said = io.StringIO()
    started = time.monotonic()
    with contextlib.redirect_stdout(said):
        code = main(argv)
    wall = time.monotonic() - started
    if code != 0:
        sys.exit(f"wheelclash {' '.join(argv)} exited {code}:\n{said.getvalue()}")
    (edition,) = [p for p in editions.iterdir() if p.is_dir()]
    document, cells = load_results(edition)
    screened = document.get("screen", {}).get("cells", 0)
    return Measured(
        cells=len(cells) + document["attribution"]["runs"] + screened,
        wall_s=wall,
        failing=cross_wheel_pairs(cells),
        document=document,
        results=tuple(cells),
    )


def loaded(path: Path) -> Measured:
    """An edition or results.json made earlier, measured as `run` measures a run (no wall
    time: it is not in the results)."""
    document, cells = load_results(path)
    screened = document.get("screen", {}).get("cells", 0)
    return Measured(
        cells=len(cells) + document.get("attribution", {}).get("runs", 0) + screened,
        wall_s=float("nan"),
        failing=cross_wheel_pairs(cells),
        document=document,
        results=tuple(cells),
    )


def imported_by(document: dict[str, Any]) -> dict[str, set[str]]:
    """Each wheel id's import steps (`import numpy`), from the results' wheel rows."""
    steps: dict[str, set[str]] = {}
    for wheel in document["provenance"]["wheels"]:
        names = str(wheel["module"]).split(",")
        steps.setdefault(wheel["wheel_id"], set()).update(f"import {n}" for n in names)
    return steps


def masked(record: dict[str, Any], steps: dict[str, set[str]]) -> list[str]:
    """Group cells that crashed while importing a wheel before their last: what they hid."""
    out = []
    for group in record["groups"]:
        for mode in group["modes"]:
            for cell in mode["group_cells"]:
                order, step = cell["order"], cell["step"]
                at = next((i for i, w in enumerate(order) if step in steps.get(w, ())), None)
                if cell["verdict"] != "pass" and at is not None and at < len(order) - 1:
                    hidden = ",".join(order[at + 1 :])
                    out.append(f"{group['name']} {mode['dlopen']} {order[at]}: hid {hidden}")
    return out


def isolated(record: dict[str, Any]) -> set[tuple[str, frozenset[str]]]:
    """(mode, pair) of every pair screening sent to pair cells for what a mode showed: the
    pairs isolated (by the split or a partner search) and those of unexplained parts, in
    their mode; a pair no screened group held, in every mode."""
    found: set[tuple[str, frozenset[str]]] = set()
    modes = {m["dlopen"] for g in record["groups"] for m in g["modes"]}
    for group in record["groups"]:
        for mode in group["modes"]:
            searches = [mode, *mode.get("partners", [])]
            parts = [p for s in searches for p in (*s["pairs"], *s["unexplained"])]
            found |= {(mode["dlopen"], frozenset((a, b))) for p in parts for a in p for b in p
                      if a != b}  # fmt: skip
    found |= {(m, frozenset(p)) for p in record["uncovered"] for m in modes}
    return found


def other_modes(
    record: dict[str, Any], results: Sequence[CellResult], failing: frozenset[Any]
) -> tuple[int, frozenset[tuple[str, frozenset[str]]]]:
    """The pair cells (runs) that screening ran in modes where it had not isolated the
    pair, and the cross-wheel failures found only by those: what running each isolated pair
    only in its modes would save, and miss."""
    chosen = isolated(record)
    extra = [
        r
        for r in results
        if len(r.cell.order) == 2 and (r.cell.dlopen, frozenset(r.cell.order)) not in chosen
    ]
    return len(extra), frozenset(f for f in failing if f not in chosen)


def shown(pairs: frozenset[tuple[str, frozenset[str]]]) -> str:
    return ", ".join(sorted(f"{m} {'+'.join(sorted(p))}" for m, p in pairs)) or "none"


def main_inner(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--healthy", type=int, default=10, choices=range(1, 11))
    parser.add_argument("--group-size", type=int, default=10)
    parser.add_argument("-j", "--jobs", type=int, default=2)
    parser.add_argument("--keep", type=Path, help="keep the runs' folders here")
    parser.add_argument(
        "--compare",
        nargs=2,
        type=Path,
        metavar=("EXHAUSTIVE", "SCREENED"),
        help="compare two editions made earlier instead of running",
    )
    args = parser.parse_args(argv)
    if args.compare:
        full, screened = (loaded(path) for path in args.compare)
        if "screen" not in screened.document:
            sys.exit(f"{args.compare[1]} was not made with --screen")
        names = {w["wheel_id"] for w in full.document["provenance"]["wheels"]}
        return compared(full, screened, len(names))
    with tempfile.TemporaryDirectory(prefix="wheelclash-screen-bench-") as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        corpus, modules = write_corpus(folder, args.healthy)
        n = len(modules)
        print(f"corpus: {n} wheels (a, b and {args.healthy} healthy), {n * (n - 1) // 2} pairs")
        full = run(corpus, folder / "exhaustive", args.jobs)
        size = str(args.group_size)
        screened = run(corpus, folder / "screened", args.jobs, "--screen", "--group-size", size)
    return compared(full, screened, n)


def compared(full: Measured, screened: Measured, n: int) -> int:
    """Print the comparison; 1 when screening missed a failing pair."""
    record = screened.document["screen"]
    print(f"{'':12} {'cells':>6} {'wall s':>7}")
    print(f"{'exhaustive':12} {full.cells:>6} {full.wall_s:>7.1f}")
    print(f"{'screened':12} {screened.cells:>6} {screened.wall_s:>7.1f}")
    print(
        f"screened/exhaustive: cells {screened.cells / full.cells:.3f} "
        f"(1/{full.cells / screened.cells:.1f}), wall {screened.wall_s / full.wall_s:.3f}"
    )
    print(
        f"screening: {len(record['groups'])} groups of up to {record['group_size']}, "
        f"{record['cells']} group and split cells; pairs run as pairs: "
        f"{len(record['pairs_run'])} of {n * (n - 1) // 2}"
    )
    print(f"failing pairs, exhaustive: {shown(full.failing)}")
    print(f"failing pairs, screened:   {shown(screened.failing)}")
    print(f"missed by screening: {shown(full.failing - screened.failing)}")
    print(f"found by screening only: {shown(screened.failing - full.failing)}")
    print(f"unexplained parts (a failure of three wheels or more?): {record['unexplained']}")
    print(f"isolated, not confirmed by the pair cells: {record['not_confirmed']}")
    extra, found_there = other_modes(record, screened.results, screened.failing)
    print(
        f"pair cells in modes where screening did not isolate the pair: {extra} of "
        f"{sum(1 for r in screened.results if len(r.cell.order) == 2)}; cross-wheel failures "
        f"only they found: {shown(found_there)}"
    )
    hidden = masked(record, imported_by(screened.document))
    print(f"group cells whose crash hid later wheels ({len(hidden)}):")
    for text in hidden:
        print(f"  {text}")
    return 1 if full.failing - screened.failing else 0


if __name__ == "__main__":
    sys.exit(main_inner(sys.argv[1:]))
