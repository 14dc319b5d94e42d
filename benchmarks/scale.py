"""Scale figures, each a ratio or size measured within one run of this script.

    .venv/bin/python benchmarks/scale.py sizes [--max-n 20]
    .venv/bin/python benchmarks/scale.py rss [--cells 10000]
    .venv/bin/python benchmarks/scale.py jobs [--groups 4] [--rounds 2] [--repeat 1]
    .venv/bin/python benchmarks/scale.py warm [--backend local] [--target T] [--rounds 3]
    .venv/bin/python benchmarks/scale.py one-group [--backend local] [--target T] [--repeat 4]

sizes  covering-array sizes for n = 6..max-n and t = 2, 3, 4 against n! and the published
       best (harness/resources/sca_published.toml), with the time each took to construct.
rss    the controller's peak RSS (ru_maxrss) over a real `wheelclash run` of --cells cells
       (the healthy scenario repeated) whose backend session hands back an outcome per cell
       at once, each with a 4,000-byte stderr tail as real crashing cells have: everything
       the controller does (plan, classify, stream, results.json, the terminal report) is the
       real code; only the probe processes are left out, since they are not the controller.
jobs   wall time of `wheelclash run -j 1` against `-j 2` on --groups copies of the healthy
       scenario (one venv group each, 24 x --repeat cells), and of `pytest -n 1` against
       `pytest -n 2` (xdist, grouped) on the same files; the fastest of --rounds counts.
warm   a warm `wheelclash run` (images, wheels and venvs cached; a first run warms them) as a
       subprocess: its wall time over the sum of its cells' own durations (the pure cell
       time the supervisor measured). The fastest of --rounds rounds counts.
one-group  cells/s of `wheelclash run -j 2` against `-j 1` on ONE group (the healthy
       scenario with --repeat: 24 x repeat cells in one venv or container), where -j 2 runs
       the group's cells in two batches at once; the rounds alternate -j 1 and -j 2 and
       the fastest of --rounds counts for each.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from harness.build.wheels import BuiltWheel
from harness.cells.backends import BACKENDS, Backend, Session, TargetFacts
from harness.cells.backends.local import LocalBackend
from harness.cells.jobs import CellJob
from harness.cells.outcome import Outcome
from harness.cli import main
from harness.common.stopping import Stopped, never
from harness.evidence.results import load_results
from harness.scenario.covering import published, sca_rows

ROOT: Final = Path(__file__).resolve().parent.parent
HEALTHY: Final = ROOT / "scenarios" / "healthy.toml"
WHEELCLASH: Final = ROOT / ".venv" / "bin" / "wheelclash"
FAKE: Final = "bench-instant"
TAIL: Final = "Fatal Python error: Segmentation fault\n" + '  File "x.py", line 1\n' * 140


def sizes(max_n: int) -> None:
    table = published()
    print(f"published sizes: {table.source}")
    print(f"{'n':>3} {'t':>2} {'ours':>5} {'published':>9} {'ratio':>6} {'n!':>22} {'seconds':>8}")
    for strength in (2, 3, 4):
        for n in range(6, max_n + 1):
            started = time.perf_counter()
            size = len(sca_rows(n, strength))
            took = time.perf_counter() - started
            best = table.best(n, strength)
            ratio = f"{size / best:.2f}" if best else "-"
            print(
                f"{n:>3} {strength:>2} {size:>5} {best or '-':>9} {ratio:>6} "
                f"{math.factorial(n):>22,} {took:>8.2f}",
                flush=True,
            )


@dataclass(frozen=True, kw_only=True)
class InstantSession:
    facts: TargetFacts
    not_installable: str = ""

    def run(self, jobs: Sequence[CellJob], stopped: Stopped = never) -> Iterator[Outcome]:
        for job in jobs:
            yield Outcome(
                cell_id=job.cell_id,
                returncode=0,
                duration_s=0.05,
                stderr_tail=TAIL[:4000],
                stdout_tail="",
                started=True,
                last_step="victims",
                sentinel_seen=True,
            )


class InstantBackend(LocalBackend):
    """The local backend (its wheels, venv and facts, and its name, which the planner asks
    for) with a session that runs nothing."""

    @contextmanager
    def open(
        self, target: str, arch: str, wheels: Sequence[BuiltWheel], batches: int = 1
    ) -> Iterator[Session]:
        with super().open(target, arch, wheels, batches) as real:
            yield InstantSession(facts=real.facts)


def _instant(engines: Mapping[str, str]) -> Backend:
    """The registry's signature; the instant backend runs on this machine, no engine."""
    return InstantBackend()


def scenario_copy(folder: Path, name: str, repeat: int) -> Path:
    """The healthy scenario under another name, with `repeat`; fixtures resolve from the repo."""
    text = HEALTHY.read_text().replace('name = "healthy"', f'name = "{name}"')
    text = text.replace("[matrix]\n", f"[matrix]\nrepeat = {repeat}\n")
    path = folder / "scenarios" / f"{name}.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    (folder / "fixtures").mkdir(exist_ok=True)
    if not (folder / "fixtures" / "cpp").exists():
        (folder / "fixtures" / "cpp").symlink_to(ROOT / "fixtures" / "cpp")
    path.write_text(text)
    return path


def rss(cells: int) -> None:
    BACKENDS[FAKE] = _instant  # a benchmark-only registry entry
    with tempfile.TemporaryDirectory(prefix="wheelclash-rss-") as work:
        repeat = math.ceil(cells / 24)
        path = scenario_copy(Path(work), "healthy-many", repeat)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()) as shown:
            code = main(["run", str(path), "--backend", FAKE, "--results", f"{work}/results"])
        took = time.perf_counter() - started
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        if code not in (0, 1):
            sys.exit(f"the run failed with exit {code}:\n{shown.getvalue()[-2000:]}")
        (results,) = Path(work).glob("results/*/results.json")
        document = json.loads(results.read_text())
        size = results.stat().st_size
    print(f"cells: {document['summary']['cells']} (exit {code}), in {took:.1f} s")
    print(f"results.json: {size / 1e6:.1f} MB")
    print(f"controller peak RSS: {peak / 1024:.0f} MB (before the run: {before / 1024:.0f} MB)")
    print(f"goal: under 300 MB -> {'met' if peak / 1024 < 300 else 'missed'}")


def _timed(command: Sequence[str], cwd: Path, env: Mapping[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    took = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return took


def jobs(groups: int, rounds: int, repeat: int) -> None:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    with tempfile.TemporaryDirectory(prefix="wheelclash-jobs-") as work:
        folder = Path(work)
        paths = [str(scenario_copy(folder, f"healthy-{i}", repeat)) for i in range(groups)]
        run = [str(WHEELCLASH), "run", *paths, "--backend", "local", "--results", f"{work}/r"]
        _timed(run, folder, env)  # warm: wheels and venvs
        pytest = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *paths]
        times: dict[str, list[float]] = {k: [] for k in ("j1", "j2", "n1", "n2")}
        for _ in range(rounds):
            times["j1"].append(_timed([*run, "-j", "1"], folder, env))
            times["j2"].append(_timed([*run, "-j", "2"], folder, env))
            times["n1"].append(_timed([*pytest, "-n", "1"], folder, env))
            times["n2"].append(_timed([*pytest, "-n", "2"], folder, env))
    best = {k: min(v) for k, v in times.items()}
    cells = 24 * repeat
    print(f"{groups} groups x {cells} cells, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
    for key, label in (("j1", "wheelclash run -j 1"), ("j2", "wheelclash run -j 2")):
        print(f"  {label:<22} {best[key]:6.1f} s   rounds: {times[key]}")
    for key, label in (("n1", "pytest -n 1"), ("n2", "pytest -n 2")):
        print(f"  {label:<22} {best[key]:6.1f} s   rounds: {times[key]}")
    print(f"-j 2 / -j 1 speed-up: {best['j1'] / best['j2']:.2f}x (goal 1.7x)")
    print(f"xdist -n 2 / -n 1 speed-up: {best['n1'] / best['n2']:.2f}x (goal 1.7x)")


def warm(backend: str, target: str | None, rounds: int) -> None:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    with tempfile.TemporaryDirectory(prefix="wheelclash-warm-") as work:
        run = [str(WHEELCLASH), "run", str(HEALTHY), "--backend", backend]
        run += ["--target", target] if target else []
        _timed([*run, "--results", f"{work}/warmup"], ROOT, env)
        figures = []
        for i in range(rounds):
            wall = _timed([*run, "--results", f"{work}/{i}"], ROOT, env)
            (path,) = Path(work).glob(f"{i}/*/results.json")
            _, cells = load_results(path)
            pure = sum(c.outcome.duration_s for c in cells)
            figures.append((wall / pure, wall, pure, len(cells)))
            print(f"  round {i + 1}: wall {wall:.2f} s, cells {pure:.2f} s -> {wall / pure:.2f}")
    ratio, wall, pure, count = min(figures)
    print(f"{count} cells, backend {backend}{' ' + target if target else ''}")
    print(f"warm re-run / pure cell time: {ratio:.2f} (wall {wall:.2f} s, cells {pure:.2f} s)")
    print(f"goal: at most 1.3 -> {'met' if ratio <= 1.3 else 'missed'}")


def one_group(backend: str, target: str | None, repeat: int, rounds: int) -> None:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    with tempfile.TemporaryDirectory(prefix="wheelclash-group-") as work:
        folder = Path(work)
        path = scenario_copy(folder, "healthy-group", repeat)
        run = [str(WHEELCLASH), "run", str(path), "--backend", backend]
        run += ["--target", target] if target else []
        _timed([*run, "--results", f"{work}/warmup"], folder, env)  # wheels, venv, image
        times: dict[int, list[float]] = {1: [], 2: []}
        for i in range(rounds):
            for jobs in (1, 2):
                command = [*run, "-j", str(jobs), "--results", f"{work}/{i}-{jobs}"]
                times[jobs].append(_timed(command, folder, env))
                print(f"  round {i + 1}, -j {jobs}: {times[jobs][-1]:.2f} s", flush=True)
    cells = 24 * repeat
    rate = {jobs: cells / min(walls) for jobs, walls in times.items()}
    where = f"backend {backend}{' ' + target if target else ''}"
    print(f"one group of {cells} cells, {where}, {os.cpu_count()} cores")
    print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    for jobs in (1, 2):
        print(f"  -j {jobs}: {rate[jobs]:6.2f} cells/s (fastest {min(times[jobs]):.2f} s)")
    print(f"cells/s at -j 2 / -j 1: {rate[2] / rate[1]:.2f}x")


def main_inner(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    sub = parser.add_subparsers(dest="what", required=True)
    sub.add_parser("sizes").add_argument("--max-n", type=int, default=20)
    sub.add_parser("rss").add_argument("--cells", type=int, default=10_000)
    jobs_parser = sub.add_parser("jobs")
    jobs_parser.add_argument("--groups", type=int, default=4)
    jobs_parser.add_argument("--rounds", type=int, default=2)
    jobs_parser.add_argument("--repeat", type=int, default=1, help="24 x repeat cells a group")
    warm_parser = sub.add_parser("warm")
    warm_parser.add_argument("--backend", default="local")
    warm_parser.add_argument("--target", default=None)
    warm_parser.add_argument("--rounds", type=int, default=3)
    group_parser = sub.add_parser("one-group")
    group_parser.add_argument("--backend", default="local")
    group_parser.add_argument("--target", default=None)
    group_parser.add_argument("--repeat", type=int, default=4, help="24 x repeat cells")
    group_parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    match args.what:
        case "sizes":
            sizes(args.max_n)
        case "rss":
            rss(args.cells)
        case "jobs":
            jobs(args.groups, args.rounds, args.repeat)
        case "warm":
            warm(args.backend, args.target, args.rounds)
        case "one-group":
            one_group(args.backend, args.target, args.repeat, args.rounds)


if __name__ == "__main__":
    main_inner()
