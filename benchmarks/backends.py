"""How fast each way of running cells is, measured on the same cells in one run.

    .venv/bin/python benchmarks/backends.py [--cells N] [--warmup N] [--target debian:SUITE]

The healthy scenario's 24 cells (3 wheels x 6 orders x 4 modes), repeated under distinct cell
ids to reach --cells, run four ways after a warm-up (images, wheels and venvs cached):

  (a) bare            the local backend: one supervisor batch of fresh interpreters on the host
  (b) docker backend  DockerBackend: one supervisor batch in an already-open container; only
                      `session.run(jobs)` is timed, the session open is reported on its own
  (d) exec per cell   one `docker exec` of the probe per cell, in one long-lived container
  (c) run per cell    one `docker run --rm` of the probe per cell, from an image that has the
                      same wheels installed in a venv (made once, untimed, removed at the end)

Every cell must pass in every way; otherwise the figures mean nothing and the exit status is 1.
Containers and the temporary image are removed on the way out, also on Ctrl-C and SIGTERM;
those of a benchmark process that died harder are removed by the next run.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import json
import logging
import os
import platform
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import FrameType
from typing import Final, cast

import docker
import docker.errors
import psutil
from docker.models.containers import Container

from harness import containers, images, paths
from harness.backends import Session
from harness.backends.docker import LABEL_OWNER, DockerBackend, load_settings, owner_label
from harness.backends.local import LocalBackend
from harness.jobs import CellJob, job_for
from harness.outcome import Outcome
from harness.plan import Cell
from harness.runner import cells_for, wheels_for
from harness.scenario import Scenario, load_scenario
from harness.verdict import Verdict, classify
from harness.wheels import BuiltWheel

logger = logging.getLogger("benchmarks.backends")

ROOT: Final = Path(__file__).resolve().parent.parent
SCENARIO: Final = ROOT / "scenarios" / "healthy.toml"
BENCH_LABEL: Final = "org.wheelclash.benchmark"  # "host:pid" of the benchmark that made it
BENCH_REPOSITORY: Final = "wheelclash-bench/naive"
BARE_GOAL: Final = 0.8
NAIVE_GOAL: Final = 10.0
SHOWN_FAILURES: Final = 5


# ---------------------------------------------------------------------------------------------
# What one way measured


@dataclass(frozen=True, kw_only=True)
class Measured:
    way: str
    cells: int
    seconds: float
    failures: tuple[str, ...]
    probe_seconds: float | None = None  # summed probe wall time, where a supervisor reports it

    @property
    def ms_per_cell(self) -> float:
        return 1000.0 * self.seconds / self.cells

    @property
    def per_second(self) -> float:
        return self.cells / self.seconds

    @property
    def probe_ms_per_cell(self) -> float | None:
        if self.probe_seconds is None:
            return None
        return 1000.0 * self.probe_seconds / self.cells


@dataclass(kw_only=True)
class Costs:
    """One-off costs, shown beside the table and never part of it."""

    entries: list[tuple[str, float]] = field(default_factory=list)

    @contextmanager
    def timed(self, what: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.entries.append((what, time.perf_counter() - start))


# ---------------------------------------------------------------------------------------------
# Cells


def repeated(scenario: Scenario, cells: Sequence[Cell], count: int) -> list[Cell]:
    """`count` cells: the list over and over, each copy under distinct cell ids."""
    out: list[Cell] = []
    copy = 0
    while len(out) < count:
        out += [replace(c, repeat=c.repeat + copy * scenario.matrix.repeat) for c in cells]
        copy += 1
    return out[:count]


def jobs_for(scenario: Scenario, cells: Sequence[Cell], count: int, offset: int) -> list[CellJob]:
    """Jobs for `count` cells; `offset` copies in, so warm-up and timed ids never collide."""
    skip = offset * len(cells)
    return [job_for(scenario, c) for c in repeated(scenario, cells, skip + count)[skip:]]


def judged(outcomes: Sequence[Outcome], jobs: Sequence[CellJob]) -> tuple[str, ...]:
    """Why each cell that did not pass failed: its verdict, or a missing or duplicated report."""
    failures: list[str] = []
    seen: set[str] = set()
    for outcome in outcomes:
        if outcome.cell_id in seen:
            failures.append(f"{outcome.cell_id}: reported twice")
        seen.add(outcome.cell_id)
        result = classify(outcome)
        if result.verdict != Verdict.PASS:
            failures.append(f"{outcome.cell_id}: {result.verdict} {result.detail[:300]}")
    failures += [f"{j.cell_id}: no outcome" for j in jobs if j.cell_id not in seen]
    return tuple(failures)


def probe_spec(job: CellJob, events: str) -> str:
    """The probe's argument, as the supervisor builds it (resources/supervisor.py, run_cell)."""
    spec = dict(job.to_json()["spec"])
    spec["events"] = events
    return json.dumps(spec)


def probe_env(job: CellJob) -> dict[str, str]:
    """What the supervisor adds to its environment for a probe."""
    env = {str(k): str(v) for k, v in job.to_json()["env"].items()}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


# ---------------------------------------------------------------------------------------------
# (a) and (b): a backend session, one batch


def timed_batch(way: str, session: Session, jobs: Sequence[CellJob]) -> Measured:
    start = time.perf_counter()
    outcomes = list(session.run(jobs))
    seconds = time.perf_counter() - start
    return Measured(
        way=way,
        cells=len(jobs),
        seconds=seconds,
        failures=judged(outcomes, jobs),
        probe_seconds=sum(o.duration_s for o in outcomes),
    )


def warm_batch(session: Session, jobs: Sequence[CellJob]) -> tuple[str, ...]:
    return judged(list(session.run(jobs)), jobs) if jobs else ()


# ---------------------------------------------------------------------------------------------
# (c) and (d): the probe straight from docker, one call per cell


@dataclass(frozen=True, kw_only=True)
class NaiveSetup:
    """Where the probe and the venv live in the naive image and its containers."""

    work: str
    user: str
    home: str

    @property
    def python(self) -> str:
        return f"{self.work}/venv/bin/python"

    @property
    def probe(self) -> str:
        return f"{self.work}/probe.py"


def exec_per_cell(container: Container, setup: NaiveSetup, jobs: Sequence[CellJob]) -> Measured:
    failures: list[str] = []
    start = time.perf_counter()
    for index, job in enumerate(jobs):
        events = f"/tmp/wheelclash-events-{os.getpid()}-{index}.jsonl"
        code, output = container.exec_run(
            [setup.python, setup.probe, probe_spec(job, events)],
            user=setup.user,
            workdir=setup.work,
            environment=probe_env(job),
        )
        if code != 0:
            text = output.decode("utf-8", "replace") if isinstance(output, bytes) else ""
            failures.append(f"{job.cell_id}: exit {code}: {text.strip()[-300:]}")
    seconds = time.perf_counter() - start
    return Measured(way="exec", cells=len(jobs), seconds=seconds, failures=tuple(failures))


def run_per_cell(
    client: docker.DockerClient,
    image: str,
    setup: NaiveSetup,
    confinement: containers.Confinement,
    labels: dict[str, str],
    jobs: Sequence[CellJob],
) -> Measured:
    failures: list[str] = []
    start = time.perf_counter()
    for job in jobs:
        env = {"HOME": setup.home, "LANG": "C.UTF-8", **probe_env(job)}
        try:
            client.containers.run(
                image,
                [setup.python, setup.probe, probe_spec(job, "/tmp/wheelclash-events.jsonl")],
                remove=True,
                network_mode="none",
                user=setup.user,
                working_dir=setup.work,
                environment=env,
                mem_limit=confinement.memory,
                memswap_limit=confinement.memory,
                pids_limit=confinement.pids,
                cap_drop=["ALL"],
                security_opt=["no-new-privileges"],
                labels=labels,
            )
        except docker.errors.ContainerError as exc:
            raw: object = exc.stderr  # bytes, whatever the stubs say
            stderr = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw or "")
            failures.append(f"{job.cell_id}: exit {exc.exit_status}: {stderr.strip()[-300:]}")
    seconds = time.perf_counter() - start
    return Measured(way="run", cells=len(jobs), seconds=seconds, failures=tuple(failures))


def install_venv(
    container: Container, setup: NaiveSetup, wheels: Sequence[BuiltWheel], costs: Costs
) -> None:
    """Probe and wheels in, a venv with the wheels installed offline (as the backend does)."""
    files = {
        setup.probe: paths.PROBE.read_bytes(),
        **{f"{setup.work}/wheels/{w.path.name}": w.path.read_bytes() for w in wheels},
    }
    with costs.timed("naive image: ship probe and wheels in"):
        container.put_archive(
            "/", containers.owned_tar(files, [setup.work, f"{setup.work}/wheels"], setup.user)
        )
    steps = [
        ("naive image: python3 -m venv", ["python3", "-m", "venv", f"{setup.work}/venv"]),
        (
            "naive image: pip install the wheels",
            [
                setup.python,
                "-m",
                "pip",
                "install",
                "--no-index",
                "--no-deps",
                "--disable-pip-version-check",
                "--no-cache-dir",
                *(f"{setup.work}/wheels/{w.path.name}" for w in wheels),
            ],
        ),
    ]
    for what, command in steps:
        with costs.timed(what):
            code, output = containers.exec_text(
                container, command, user=setup.user, workdir=setup.work
            )
        if code != 0:
            raise SystemExit(f"{what} failed (exit {code}): {output.strip()[-600:]}")


def snapshot(
    client: docker.DockerClient, container: Container, tag: str, owner: str, costs: Costs
) -> str:
    """The container's filesystem as a new image carrying only the benchmark's label.

    Not `container.commit()`: a commit keeps the target image's `org.wheelclash.*` labels,
    recipe hash included, so `wheelclash images` would list the temporary image and the
    image cache could take it for the target image while it exists.
    """
    repository, name = tag.rsplit(":", 1)
    with costs.timed("naive image: export and import"), tempfile.TemporaryDirectory() as tmp:
        tarball = Path(tmp) / "rootfs.tar"
        with tarball.open("wb") as handle:
            # A generator of bytes chunks (the stubs say str).
            for chunk in cast(Iterator[bytes], container.export()):
                handle.write(chunk)
        client.api.import_image(
            src=str(tarball),
            repository=repository,
            tag=name,
            changes=[
                f"LABEL {BENCH_LABEL}={owner}",
                "ENV LANG=C.UTF-8",
                "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            ],
        )
    return str(client.images.get(tag).id)


# ---------------------------------------------------------------------------------------------
# Clean-up


def remove_ours(client: docker.DockerClient, owner: str, tag: str) -> None:
    """Every container and the image this run made; called in `finally`."""
    for container in client.containers.list(all=True, filters={"label": f"{BENCH_LABEL}={owner}"}):
        try:
            container.remove(force=True)
        except docker.errors.NotFound:
            pass
    try:
        client.images.remove(tag, force=True)
    except docker.errors.ImageNotFound:
        pass


def remove_dead_leftovers(client: docker.DockerClient) -> None:
    """Containers and images of benchmark processes on this host that no longer run."""
    host = socket.gethostname()

    def dead(labels: dict[str, str] | None) -> bool:
        owner_host, _, pid = str((labels or {}).get(BENCH_LABEL, "")).rpartition(":")
        return owner_host == host and pid.isdigit() and not psutil.pid_exists(int(pid))

    for container in client.containers.list(all=True, filters={"label": BENCH_LABEL}):
        if dead(container.labels):
            print(f"removing container {container.short_id} left by a dead benchmark")
            container.remove(force=True)
    for image in client.images.list(filters={"label": BENCH_LABEL}):
        if dead(image.labels):
            print(f"removing image {image.short_id} left by a dead benchmark")
            client.images.remove(str(image.id), force=True)


# ---------------------------------------------------------------------------------------------
# The run


@dataclass(frozen=True, kw_only=True)
class Plan:
    scenario: Scenario
    count: int
    warmup: int
    target: str
    arch: str


def measure(plan: Plan, costs: Costs, warm_failures: list[str]) -> list[Measured]:
    scenario, count, warm = plan.scenario, plan.count, plan.warmup
    local = LocalBackend()
    backend = DockerBackend()
    reason = backend.unavailable_reason()
    if reason:
        raise SystemExit(f"the docker backend cannot run here: {reason}")
    client = backend.client
    remove_dead_leftovers(client)

    with costs.timed(f"target image {plan.target} (ensure, cached)"):
        target_image = images.resolve_target(client, plan.target, plan.arch)
    host_cells = cells_for(scenario, local, None)
    docker_cells = cells_for(scenario, backend, [plan.target])
    docker_cells = tuple(c for c in docker_cells if c.arch == plan.arch)
    with costs.timed("wheels, host builder (cached)"):
        host_wheels = wheels_for(scenario, host_cells[0], local)
    with costs.timed(f"wheels, {plan.target} builder (cached)"):
        docker_wheels = wheels_for(scenario, docker_cells[0], backend)

    results: list[Measured] = []

    def note(way: str, failures: tuple[str, ...]) -> None:
        warm_failures.extend(f"warm-up {way}: {f}" for f in failures)

    # (a) bare
    with ExitStack() as stack:
        with costs.timed("local venv (cached)"):
            session = stack.enter_context(local.open("host", platform.machine(), host_wheels))
        note("bare", warm_batch(session, jobs_for(scenario, host_cells, warm, 0)))
        results.append(timed_batch("bare", session, jobs_for(scenario, host_cells, count, 1)))
    print_progress(results[-1])

    # (b) docker backend
    with ExitStack() as stack:
        with costs.timed("docker session open (start, ship in, venv, pip install)"):
            session = stack.enter_context(backend.open(plan.target, plan.arch, docker_wheels))
        note("docker", warm_batch(session, jobs_for(scenario, docker_cells, warm, 0)))
        results.append(timed_batch("docker", session, jobs_for(scenario, docker_cells, count, 1)))
    print_progress(results[-1])

    # (d) exec per cell, in the container the naive image is made from; then (c) run per cell
    settings = load_settings()
    owner = owner_label()
    tag = f"{BENCH_REPOSITORY}:{os.getpid()}-{int(time.time())}"
    setup = NaiveSetup(
        work=settings.workdir, user=settings.confinement.user, home=settings.confinement.home
    )
    labels = {LABEL_OWNER: owner, BENCH_LABEL: owner}
    warm_jobs = jobs_for(scenario, docker_cells, warm, 0)
    timed_jobs = jobs_for(scenario, docker_cells, count, 1)
    try:
        with ExitStack() as stack:
            with costs.timed("naive image: container start"):
                container = stack.enter_context(
                    containers.confined(client, target_image.image_id, settings.confinement, labels)
                )
            install_venv(container, setup, docker_wheels, costs)
            image_id = snapshot(client, container, tag, owner, costs)
            note("exec", exec_per_cell(container, setup, warm_jobs).failures)
            results.append(exec_per_cell(container, setup, timed_jobs))
        print_progress(results[-1])
        naive = functools.partial(run_per_cell, client, image_id, setup, settings.confinement)
        note("run", naive(labels, warm_jobs).failures)
        results.append(naive(labels, timed_jobs))
        print_progress(results[-1])
    finally:
        remove_ours(client, owner, tag)
    return results


# ---------------------------------------------------------------------------------------------
# Report

TITLES: Final = {
    "bare": "(a) bare: local backend, one batch",
    "docker": "(b) docker backend, one batch",
    "exec": "(d) docker exec per cell",
    "run": "(c) docker run --rm per cell",
}


def print_progress(result: Measured) -> None:
    print(
        f"  measured {TITLES[result.way]}: {result.cells} cells in {result.seconds:.2f} s",
        flush=True,
    )


def report(results: Sequence[Measured], costs: Costs, warm_failures: Sequence[str]) -> int:
    by_way = {r.way: r for r in results}
    print("\none-off costs (not in the table):")
    for what, seconds in costs.entries:
        print(f"  {what:<58} {seconds:8.2f} s")

    print(
        f"\n{'way':<38} {'cells':>5} {'seconds':>8} {'ms/cell':>8} {'cells/s':>8} "
        f"{'probe ms':>9} {'failures':>8}"
    )
    for way in ("bare", "docker", "exec", "run"):
        r = by_way[way]
        probe = f"{r.probe_ms_per_cell:9.1f}" if r.probe_ms_per_cell is not None else f"{'-':>9}"
        print(
            f"{TITLES[way]:<38} {r.cells:>5} {r.seconds:>8.2f} {r.ms_per_cell:>8.1f} "
            f"{r.per_second:>8.2f} {probe} {len(r.failures):>8}"
        )
    print("  (probe ms: the probe's wall time as the supervisor measured it, 10 ms polls included)")

    docker_rate = by_way["docker"].per_second
    ratios: list[tuple[str, float, float | None]] = [
        ("docker backend / bare", docker_rate / by_way["bare"].per_second, BARE_GOAL),
        (
            "docker backend / docker run per cell",
            docker_rate / by_way["run"].per_second,
            NAIVE_GOAL,
        ),
        ("docker backend / docker exec per cell", docker_rate / by_way["exec"].per_second, None),
    ]
    print("\nthroughput ratios:")
    for what, ratio, goal in ratios:
        verdict = (
            "" if goal is None else f"goal >= {goal:g}x: {'met' if ratio >= goal else 'NOT met'}"
        )
        print(f"  {what:<40} {ratio:7.2f}x   {verdict}")

    failures = [*warm_failures, *(f"{r.way}: {f}" for r in results for f in r.failures)]
    total = sum(len(r.failures) for r in results)
    print(f"\nfailed cells: {total} timed, {len(warm_failures)} in warm-ups")
    for line in failures[:SHOWN_FAILURES]:
        print(f"  {line}")
    if failures:
        print("  a benchmark over failing cells measures nothing: fix them first")
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--cells", type=int, default=96, help="cells timed per way (default 96)")
    parser.add_argument(
        "--warmup", type=int, default=6, help="untimed cells per way before timing (default 6)"
    )
    parser.add_argument("--target", default="debian:bookworm", help="docker target")
    parser.add_argument("-v", "--verbose", action="store_true", help="log the harness's steps")
    args = parser.parse_args(argv)
    if args.cells < 1 or args.warmup < 0:
        parser.error("--cells must be at least 1 and --warmup at least 0")
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    install_sigterm()

    scenario = load_scenario(SCENARIO)
    plan = Plan(
        scenario=scenario,
        count=args.cells,
        warmup=args.warmup,
        target=args.target,
        arch=images.host_arch(),
    )
    base = len(cells_for(scenario, LocalBackend(), None))
    load_before = os.getloadavg()
    print(
        f"wheelclash backend benchmark, {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}, "
        f"{platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}\n"
        f"scenario {scenario.name}: {base} distinct cells, {plan.count} timed per way, "
        f"{plan.warmup} warm-up cells per way; docker target {plan.target}/{plan.arch}",
        flush=True,
    )
    costs = Costs()
    warm_failures: list[str] = []
    results = measure(plan, costs, warm_failures)
    load_after = os.getloadavg()
    print(
        f"\nload average (1 min) before {load_before[0]:.2f}, after {load_after[0]:.2f}"
        " (another job on the machine skews the ratios)"
    )
    return report(results, costs, warm_failures)


def install_sigterm() -> None:
    """SIGTERM unwinds like Ctrl-C, so every `finally` removes what it made."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, handler)


if __name__ == "__main__":
    sys.exit(main())
