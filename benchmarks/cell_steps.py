"""Where a cell's time goes in a container against the host: one pair's cells timed in layers,
in both places, in one run.

    .venv/bin/python benchmarks/cell_steps.py [--corpus benchmarks/atlas_corpus.toml]
                                              [--pair numpy regex] [--cells 40]
                                              [--target debian:bookworm]

The pair's planned cells (repeated up to --cells) run one at a time, three ways, on the host
(in the local backend's venv for the pair) and in a container (the docker backend's, as its
probes run there: the probes' user, the venv on the harness's volume, the cells' folder in
memory):

- start: `python -c pass`, the interpreter starting and stopping;
- bare: `python -c "import a; import b; ..."` with the victims, as benchmarks/atlas.py's bare
  script runs a cell;
- probe: the probe alone, `python probe.py SPEC`, each with its own events file;
- session: the backend session's `run` on all the cells as one batch, as the atlas runs them
  (the supervisor, its launcher, private homes, reading the reports back).

Each way is timed where it runs (the in-container ones by a loop inside the container, so no
`docker exec` is counted), and the session from the controller. Printed: milliseconds per
cell in each place, container ÷ host, and each layer's cost over the one below it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Final

from atlas import bare_code, victims_source  # type: ignore[import-not-found]
from harness import paths
from harness.build.prebuilt import provided_names, with_modules
from harness.build.wheels import BuiltWheel
from harness.cells.backends import Backend, Session
from harness.cells.backends.docker import DockerBackend, DockerSession
from harness.cells.backends.local import LocalBackend, LocalSession
from harness.cells.jobs import CellJob, job_for
from harness.run.runner import cells_for, wheels_for
from harness.scenario.atlas_pairs import AtlasOptions, pair_scenarios
from harness.scenario.corpus import load_corpus

HERE: Final = Path(__file__).resolve().parent
# Runs `count` argv lists one after another, cycling through the distinct ones it is given
# (one argument: a command line holds only so much), and prints the seconds they took.
TIMER: Final = (
    "import json, subprocess, sys, time\n"
    "count, runs = json.loads(sys.argv[1])\n"
    "started = time.perf_counter()\n"
    "for index in range(count):\n"
    "    argv = [a.replace('{index}', str(index)) for a in runs[index % len(runs)]]\n"
    "    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
    "print(time.perf_counter() - started)\n"
)


def pair_jobs(
    corpus: Path, pair: Sequence[str], target: str, backend: Backend
) -> tuple[list[CellJob], list[BuiltWheel]]:
    """The pair's planned cells on `target`, and the pair's wheels."""
    for scenario in pair_scenarios(load_corpus(corpus), AtlasOptions(targets=(target,))):
        if sorted(w.id for w in scenario.wheels) != sorted(pair):
            continue
        cells = cells_for(scenario, backend, None)
        wheels = list(wheels_for(scenario, cells[0], backend))
        filled = with_modules(scenario, wheels)
        provided = provided_names(wheels)
        jobs = [job_for(filled, cell, 1.0, provided) for cell in cells]
        return jobs, wheels
    sys.exit(f"no pair {' and '.join(pair)} in {corpus}")


def probe_runs(python: str, probe: str, jobs: Sequence[CellJob], events: str) -> list[list[str]]:
    spec = [{**job.to_json()["spec"], "events": f"{events}/events-{{index}}.jsonl"} for job in jobs]
    return [[python, probe, json.dumps(one)] for one in spec]


def bare_runs(python: str, jobs: Sequence[CellJob]) -> list[list[str]]:
    victims = victims_source()
    return [[python, "-c", bare_code(job, victims)] for job in jobs]


def timed_host(runs: list[list[str]], count: int, cwd: Path) -> float:
    done = subprocess.run(
        [sys.executable, "-c", TIMER, json.dumps([count, runs])],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(done.stdout)


def timed_container(session: DockerSession, runs: list[list[str]], count: int, cwd: str) -> float:
    user = session.settings.confinement.user
    timer = ["python3", "-c", TIMER, json.dumps([count, runs])]
    if session.root:  # where the probes run: in the image's root copy, as their user
        enter = session.settings.script("enter_root.py")
        timer = ["python3", "-I", enter, session.root, user, *timer]
        user = "0:0"
    code, output = session.container.exec_run(timer, user=user, workdir=cwd)
    if code != 0:
        sys.exit(f"the timer failed in the container: {output.decode()[-600:]}")
    return float(output.decode().strip().splitlines()[-1])


def timed_session(session: Session, distinct: Sequence[CellJob], count: int) -> float:
    jobs = [
        replace(distinct[i % len(distinct)], cell_id=f"{distinct[i % len(distinct)].cell_id}-{i}")
        for i in range(count)
    ]
    started = time.perf_counter()
    outcomes = list(session.run(jobs))
    spent = time.perf_counter() - started
    failing = [o.cell_id for o in outcomes if o.infra_error or o.returncode != 0]
    if failing:
        print(f"  ({len(failing)} of {len(outcomes)} cells did not pass)")
    return spent


def measure_host(jobs: list[CellJob], wheels: list[BuiltWheel], count: int) -> dict[str, float]:
    with LocalBackend().open("host", "x86_64", wheels) as opened:
        session: LocalSession = opened  # type: ignore[assignment]
        python = str(session.python)
        with tempfile.TemporaryDirectory(prefix="wheelclash-steps-") as work:
            return {
                "start": timed_host([[python, "-c", "pass"]], count, Path(work)),
                "bare": timed_host(bare_runs(python, jobs), count, Path(work)),
                "probe": timed_host(
                    probe_runs(python, str(paths.PROBE), jobs, work), count, Path(work)
                ),
                "session": timed_session(session, jobs, count),
            }


def measure_container(
    jobs: list[CellJob], wheels: list[BuiltWheel], count: int, target: str, backend: DockerBackend
) -> dict[str, float]:
    with backend.open(target, "x86_64", wheels) as opened:
        session: DockerSession = opened  # type: ignore[assignment]
        settings = session.settings
        python = f"{settings.venv}/bin/python"
        work = "/tmp"  # the probes' user can write here, in memory
        probe = settings.script("probe.py")
        return {
            "start": timed_container(session, [[python, "-c", "pass"]], count, work),
            "bare": timed_container(session, bare_runs(python, jobs), count, work),
            "probe": timed_container(session, probe_runs(python, probe, jobs, work), count, work),
            "session": timed_session(session, jobs, count),
        }


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=HERE / "atlas_corpus.toml")
    parser.add_argument("--pair", nargs=2, default=["numpy", "regex"])
    parser.add_argument("--cells", type=int, default=40)
    parser.add_argument("--target", default="debian:bookworm")
    args = parser.parse_args(argv)
    docker_backend = DockerBackend()
    if (why := docker_backend.unavailable_reason()) is not None:
        sys.exit(f"no Docker engine: {why}")
    host_jobs, host_wheels = pair_jobs(args.corpus, args.pair, "host", LocalBackend())
    box_jobs, box_wheels = pair_jobs(args.corpus, args.pair, args.target, docker_backend)
    count = args.cells
    print(f"{count} cells of {' + '.join(args.pair)} ({len(host_jobs)} distinct), one at a time")
    host = measure_host(host_jobs, host_wheels, count)
    box = measure_container(box_jobs, box_wheels, count, args.target, docker_backend)
    print(f"{'way':8} {'host ms':>8} {'box ms':>8} {'box÷host':>9}")
    for way in host:
        a, b = host[way] / count * 1000, box[way] / count * 1000
        print(f"{way:8} {a:8.1f} {b:8.1f} {b / a:8.2f}x")
    for place, got in (("host", host), ("box", box)):
        probe, session = got["probe"] - got["bare"], got["session"] - got["probe"]
        print(
            f"{place}: the probe adds {probe / count * 1000:.1f} ms a cell to bare, "
            f"the session {session / count * 1000:.1f} ms to the probe"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
