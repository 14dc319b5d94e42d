"""The atlas's cells per second against a bare script running the same cells, in one run.

    .venv/bin/python benchmarks/atlas.py [--corpus benchmarks/atlas_corpus.toml] [-j 2]
                                         [--backend docker --backend local] [--target T]
                                         [--rounds 1] [--before CHECKOUT] [--keep DIR]
                                         [--screen] [--own] [--bare-python PYTHON]

For each backend asked, a real `wheelclash atlas CORPUS --backend B -j N --no-previous` runs
as a child process (`python -m harness.cli`), its results and edition in a temporary folder,
and is timed from its start to its exit: everything it does (starting, finding the wheels,
each pair's environment, the cells, the extra runs of failing cells, attribution, the
edition). Its cells are those it records (planned cells, extra runs and attribution's runs).
With --before, the same command runs once more per backend with that checkout's `harness`
(a way named `before-<backend>`), so a change's before and after are measured in one run.

The bare script runs the same cells on the host with the same parallelism and no harness:
one venv (made before timing) holding every wheel of the corpus with its dependencies, and
for each planned cell a fresh `python -c` that imports the cell's modules in its order with
its dlopen flags (RTLD_GLOBAL for the wheels the mode makes global), runs the cell's snippet
when the corpus has exercises, then uses the victims the probe uses (their code is read from
harness/resources/probe.py). `-j` such interpreters run at once.

With --screen, `wheelclash atlas --screen` runs once more per backend (a way named
`screen-<backend>`): its cells are fewer (groups first, pairs only where a group fails), so
its cells per second say little; what it is compared on is the time to the same answer, the
bare script's wall time over its own (every pair of the corpus settled in every mode).

With --own, `wheelclash atlas --own-environments` runs once more per backend (a way named
`own-<backend>`): every pair installed in an environment of its own, as before pools
(harness/run/pools.py), so what the shared environments gain is measured in the same run.

With --bare-python, the bare script runs once more per round with that host interpreter (a
way named `bare-python`; its own venv of the same wheels): on a host whose default Python is
another build than the target image's (here pyenv's 3.11.7 against Debian's 3.11.2, which
the image has and /usr/bin/python3.11 is), the same build as the image's compares the
container's cost alone.

Printed per way: cells, wall seconds, cells per second, and the ratio of each backend's cells
per second to the bare script's; and the CPU seconds (user and system) of the processes the
way started and waited for, per cell: for bare the interpreters, for local the harness and
its cells, for docker the harness alone (the cells run under the engine, not as its
children), so docker's figure is what the controller takes from the cores the cells share.
Every harness timed (this one and --before's) is compiled first, as pip compiles an installed
one: a start that compiles about 150 modules from source (an editable install where
PYTHONDONTWRITEBYTECODE is set) costs about 0.2 s more.

With --rounds above 1 the ways run that many times, interleaved, and the fastest round of
each counts; every round is printed, and so is each way's ratio to the bare script of the same
round, with their median (on a host whose speed drifts, the pairs cancel the drift).
"""

from __future__ import annotations

import argparse
import ast
import compileall
import hashlib
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from statistics import median
from typing import Final

from harness import paths
from harness.build.prebuilt import with_modules
from harness.build.wheels import BuiltWheel
from harness.cells.backends.local import LocalBackend
from harness.cells.install import install_command
from harness.cells.jobs import CellJob, job_for
from harness.common.verdicts import Verdict
from harness.evidence.results import load_results
from harness.run.runner import cells_for, wheels_for
from harness.scenario.atlas_pairs import AtlasOptions, pair_scenarios
from harness.scenario.corpus import load_corpus

HERE: Final = Path(__file__).resolve().parent
REPO: Final = HERE.parent
DEFAULT_CORPUS: Final = HERE / "atlas_corpus.toml"
DEFAULT_TARGET: Final = "debian:bookworm"
# The probe's victims: these definitions of resources/probe.py, copied into every bare cell.
VICTIM_NAMES: Final = ("VICTIMS", "_roundtrip")
VICTIM_PREFIX: Final = "_use_"


@dataclass(frozen=True, kw_only=True)
class Measured:
    way: str
    cells: int
    wall_s: float
    failed: int
    cpu_s: float = 0.0  # the children's user and system time

    @property
    def rate(self) -> float:
        return self.cells / self.wall_s


def children_cpu() -> float:
    """User and system seconds of the children waited for so far."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def victims_source() -> str:
    """The probe's victim helpers and its VICTIMS table, as source text."""
    text = paths.PROBE.read_text()
    kept = []
    for node in ast.parse(text).body:
        name = getattr(node, "name", None)
        if isinstance(node, ast.Assign):
            name = next((t.id for t in node.targets if isinstance(t, ast.Name)), None)
        if name and (name in VICTIM_NAMES or name.startswith(VICTIM_PREFIX)):
            kept.append(ast.get_source_segment(text, node) or "")
    return "import importlib\n" + "\n\n".join(kept) + "\n"


def bare_code(job: CellJob, victims: str) -> str:
    """A cell as one `python -c` program: the imports with their flags, the snippet, the
    victims; any failure exits non-zero."""
    lines = ["import os, sys", "base = sys.getdlopenflags()"]
    for item in job.imports:
        flags = "base | os.RTLD_GLOBAL" if item.rtld_global else "base"
        lines += [
            f"sys.setdlopenflags({flags})",
            f"import {item.module}",
            "sys.setdlopenflags(base)",
        ]
    if job.snippet:
        lines.append(f"exec(compile({job.snippet!r}, '<exercise>', 'exec'), {{}})")
    if job.victims:
        lines.append(victims)
        lines += ["for name, use in VICTIMS:", "    importlib.import_module(name)", "    use()"]
    return "\n".join(lines) + "\n"


def bare_cells(corpus: Path) -> tuple[list[CellJob], list[BuiltWheel]]:
    """Every cell the atlas plans for the corpus on the host, and every wheel in them."""
    backend = LocalBackend()
    scenarios = pair_scenarios(load_corpus(corpus), AtlasOptions(targets=("host",)))
    jobs: list[CellJob] = []
    wheels: dict[str, BuiltWheel] = {}
    for scenario in scenarios:
        cells = cells_for(scenario, backend, None)
        found = wheels_for(scenario, cells[0], backend)
        wheels |= {w.wheel_id: w for w in found}
        filled = with_modules(scenario, found)
        jobs += [job_for(filled, cell) for cell in cells]
    return jobs, list(wheels.values())


def bare_venv(folder: Path, wheels: Sequence[BuiltWheel], base: str = sys.executable) -> Path:
    """One venv on the host, of the interpreter `base`, with every wheel of the corpus and
    their dependencies."""
    venv = folder / f"bare-venv-{hashlib.sha256(base.encode()).hexdigest()[:8]}"
    subprocess.run([base, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    houses = sorted({w.wheelhouse for w in wheels if w.wheelhouse})
    command = install_command(
        [sys.executable, "-m", "pip", "--python", str(python)],
        [str(w.path) for w in wheels],
        houses,
    )
    subprocess.run(command, check=True, capture_output=True)
    return python


def run_bare(python: Path, jobs: Sequence[CellJob], parallel: int, victims: str) -> Measured:
    codes = [bare_code(job, victims) for job in jobs]
    work = Path(tempfile.mkdtemp(prefix="wheelclash-atlas-bare-"))

    def one(code: str) -> int:
        done = subprocess.run([str(python), "-c", code], cwd=work, capture_output=True)
        if done.returncode != 0:
            print(f"bare cell failed ({done.returncode}): {done.stderr.decode()[-400:]}")
        return done.returncode

    started, cpu = time.monotonic(), children_cpu()
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        exits = list(pool.map(one, codes))
    wall = time.monotonic() - started
    failed = sum(1 for e in exits if e)
    return Measured(
        way="bare", cells=len(codes), wall_s=wall, failed=failed, cpu_s=children_cpu() - cpu
    )


def run_atlas(
    corpus: Path, folder: Path, way: str, target: str, parallel: int, code: Path
) -> Measured:
    """One atlas run, the CLI of the checkout `code` in a child process."""
    backend = way.removeprefix("before-").removeprefix("screen-").removeprefix("own-")
    editions = folder / "editions"
    argv = [sys.executable, "-m", "harness.cli", "atlas", str(corpus), "--backend", backend]
    argv += ["--no-previous", "-j", str(parallel), "--results", str(folder / "results")]
    argv += ["--editions", str(editions), "-q"]
    if way.startswith("screen-"):
        argv.append("--screen")
    if way.startswith("own-"):
        argv.append("--own-environments")
    if backend != "local":
        argv += ["--target", target]
    env = {**os.environ, "PYTHONPATH": str(code)}
    started, cpu = time.monotonic(), children_cpu()
    done = subprocess.run(argv, cwd=code, env=env, capture_output=True, text=True)
    wall = time.monotonic() - started
    cpu = children_cpu() - cpu
    if done.returncode != 0:
        sys.exit(f"{' '.join(argv)} exited {done.returncode}:\n{done.stdout}{done.stderr}")
    (edition,) = [p for p in editions.iterdir() if p.is_dir()]
    document, cells = load_results(edition)
    failed = sum(1 for c in cells if c.outcome.verdict != Verdict.PASS)
    runs = len(cells) + int(document.get("attribution", {}).get("runs", 0))
    runs += int(document.get("screen", {}).get("cells", 0))
    return Measured(way=way, cells=runs, wall_s=wall, failed=failed, cpu_s=cpu)


def interpreter(python: Path) -> str:
    """The version line of a venv's interpreter."""
    done = subprocess.run(
        [str(python), "-c", "import sys; print(sys.version.split()[0], sys.base_prefix)"],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def load_line() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (5 min {five:.1f})"


def main_inner(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("-j", "--jobs", type=int, default=2)
    parser.add_argument(
        "--backend", action="append", choices=("docker", "local"), help="default: both"
    )
    parser.add_argument("--target", default=DEFAULT_TARGET, help="the docker backend's target")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--before", type=Path, help="a checkout of the code before a change")
    parser.add_argument("--keep", type=Path, help="keep the runs' folders here")
    parser.add_argument("--screen", action="store_true", help="also time atlas --screen")
    parser.add_argument(
        "--own", action="store_true", help="also time atlas --own-environments (no pools)"
    )
    parser.add_argument(
        "--bare-python",
        help="also time the bare script with this host interpreter (the way `bare-python`), "
        "e.g. the one the target image has, to compare the same build",
    )
    args = parser.parse_args(argv)
    backends = args.backend or ["docker", "local"]
    ways = ["bare", *(["bare-python"] if args.bare_python else [])]
    for backend in backends:
        ways += [f"before-{backend}", backend] if args.before else [backend]
        ways += [f"screen-{backend}"] if args.screen else []
        ways += [f"own-{backend}"] if args.own else []
    victims = victims_source()
    with tempfile.TemporaryDirectory(prefix="wheelclash-atlas-bench-") as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        jobs, wheels = bare_cells(args.corpus)
        python = bare_venv(folder, wheels)
        other = bare_venv(folder, wheels, args.bare_python) if args.bare_python else python
        other_version = interpreter(other)
        n = len(load_corpus(args.corpus).wheels)
        print(
            f"corpus {args.corpus.name}: {n} wheels, {n * (n - 1) // 2} pairs, {len(jobs)} "
            f"planned cells; -j {args.jobs}; docker target {args.target}"
        )
        # Each harness timed starts from compiled modules, as an installed one does (pip
        # compiles what it installs; an editable install and PYTHONDONTWRITEBYTECODE do not).
        for code in {REPO, *([args.before] if args.before else [])}:
            compileall.compile_dir(code.resolve() / "harness", quiet=1, workers=0)
        print(f"start: {load_line()}")
        rounds: dict[str, list[Measured]] = {}
        for index in range(args.rounds):
            for way in ways:
                if way in ("bare", "bare-python"):
                    got = run_bare(python if way == "bare" else other, jobs, args.jobs, victims)
                    got = replace(got, way=way)
                else:
                    where = folder / f"{way}-{index}"
                    code = args.before if way.startswith("before-") else REPO
                    corpus = args.corpus.resolve()
                    got = run_atlas(corpus, where, way, args.target, args.jobs, code.resolve())
                rounds.setdefault(way, []).append(got)
                print(
                    f"round {index + 1} {way:14} {got.cells:5} cells {got.wall_s:7.1f} s "
                    f"{got.rate:6.2f} cells/s, {1000 * got.cpu_s / got.cells:5.1f} CPU ms/cell "
                    f"({got.failed} not passing); {load_line()}"
                )
    best = {way: max(got, key=lambda m: m.rate) for way, got in rounds.items()}
    print(f"{'way':14} {'cells':>6} {'wall s':>8} {'cells/s':>8} {'÷ bare':>7} {'CPU ms/cell':>12}")
    for way, got in best.items():
        print(
            f"{way:14} {got.cells:6} {got.wall_s:8.1f} {got.rate:8.2f} "
            f"{got.rate / best['bare'].rate:6.2f}x {1000 * got.cpu_s / got.cells:12.1f}"
        )
    if args.rounds > 1:
        # The machine's speed drifts between rounds (a shared host): each round's ratio to
        # the bare script of the same round cancels what the two ways met alike.
        for way, got in rounds.items():
            if way == "bare":
                continue
            paired = [m.rate / bare.rate for m, bare in zip(got, rounds["bare"], strict=True)]
            listed = " ".join(f"{ratio:.2f}" for ratio in paired)
            print(f"{way} ÷ bare, round by round: {listed} (median {median(paired):.2f}x)")
    if "bare-python" in best:
        print(f"bare-python: {args.bare_python}, {other_version}; bare: {sys.version.split()[0]}")
        for way, got in best.items():
            if not way.startswith("bare"):
                print(f"{way} ÷ bare-python {got.rate / best['bare-python'].rate:.2f}x")
    bare_wall = min(m.wall_s for m in rounds["bare"])
    for way in best:
        if way.startswith("screen-"):
            speed = bare_wall / min(m.wall_s for m in rounds[way])
            print(
                f"{way}: the same answers at {speed:.2f}x the bare script's speed "
                "(its wall time over this way's, fastest rounds)"
            )
    for backend in backends:
        if f"before-{backend}" in best:
            gain = best[backend].rate / best[f"before-{backend}"].rate
            print(f"{backend}: after ÷ before {gain:.2f}x")
        if f"own-{backend}" in best:
            gain = best[backend].rate / best[f"own-{backend}"].rate
            print(f"{backend}: shared environments ÷ own environments {gain:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main_inner(sys.argv[1:]))
