"""How fast each way of running cells is, measured on the same cells in one run.

    .venv/bin/python benchmarks/backends.py [--cells N] [--rounds R] [--warmup N] [-v]

The healthy scenario's 24 cells (3 wheels x 6 orders x 4 modes), repeated under distinct cell
ids to reach --cells, run four ways after a warm-up (images, wheels and venvs cached):

  (a) bare            the local backend: one supervisor batch of fresh interpreters on the host
  (b) docker backend  DockerBackend: one supervisor batch in an already-open container; only
                      `session.run(jobs)` is timed, the session open is reported on its own
  (d) exec per cell   one `docker exec` of the probe per cell, in one long-lived container
  (c) run per cell    one `docker run --rm` of the probe per cell, from an image that has the
                      same wheels installed in a venv (made once, untimed, removed at the end)

(a) and (b) run --rounds times, interleaved, and the fastest round counts: other work on the
machine only ever adds time. Each (b) round opens a fresh session and runs one batch in it.
Every cell must pass in every way, or the figures mean nothing and the exit status is 1.
Containers and the temporary image are removed on the way out, also on Ctrl-C and SIGTERM;
those of a benchmark process that died harder are removed by the next run.
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import os
import platform
import signal
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import FrameType
from typing import Final, cast

import docker
import docker.errors
import psutil
from docker.models.containers import Container

from harness import paths
from harness.build.toolchains import load_catalogue
from harness.cells.backends import Session
from harness.cells.backends.docker import LABEL_OWNER, DockerBackend, load_settings, owner_label
from harness.cells.backends.local import LocalBackend
from harness.cells.jobs import CellJob, job_for
from harness.cells.outcome import Outcome
from harness.common.verdicts import Verdict
from harness.evidence.classify import classify
from harness.images import containers, tarstream
from harness.images import provision as images
from harness.run.runner import cells_for, wheels_for
from harness.scenario.load import Scenario, load_scenario
from harness.scenario.plan import Cell

ROOT: Final = Path(__file__).resolve().parent.parent
SCENARIO: Final = ROOT / "scenarios" / "healthy.toml"
BENCH_LABEL: Final = "org.wheelclash.benchmark"  # "host:pid" of the benchmark that made it
BENCH_REPOSITORY: Final = "wheelclash-bench/naive"
BARE_GOAL: Final = 0.8
NAIVE_GOAL: Final = 10.0
SHOWN_FAILURES: Final = 5
WAYS: Final = ("bare", "docker", "exec", "run")
TITLES: Final = {
    "bare": "(a) bare: local backend, one batch",
    "docker": "(b) docker backend, one batch",
    "exec": "(d) docker exec per cell",
    "run": "(c) docker run --rm per cell",
}


# ---------------------------------------------------------------------------------------------
# What was measured


@dataclass(frozen=True, kw_only=True)
class Measured:
    """One timed pass of one way over the cells."""

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
class Record:
    """Everything one benchmark run found."""

    rounds: dict[str, list[Measured]] = field(default_factory=lambda: {w: [] for w in WAYS})
    costs: list[tuple[str, float]] = field(default_factory=list)
    session_opens: list[float] = field(default_factory=list)
    warm_failures: list[str] = field(default_factory=list)

    @contextmanager
    def timed(self, what: str) -> Iterator[None]:
        """A one-off cost, reported beside the table and never part of it."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.costs.append((what, time.perf_counter() - start))

    def warm(self, way: str, failures: Sequence[str]) -> None:
        self.warm_failures += [f"warm-up {way}: {f}" for f in failures]

    def best(self, way: str) -> Measured:
        return min(self.rounds[way], key=lambda m: m.seconds)

    def add(self, result: Measured) -> None:
        self.rounds[result.way].append(result)
        print(
            f"  {TITLES[result.way]:<38} {result.cells} cells in {result.seconds:6.2f} s"
            f"  ({result.per_second:5.2f} cells/s)",
            flush=True,
        )


# ---------------------------------------------------------------------------------------------
# Cells and how the supervisor would hand them to the probe


def repeated(scenario: Scenario, cells: Sequence[Cell], count: int) -> list[Cell]:
    """`count` cells: the list over and over, each copy under distinct cell ids."""
    out: list[Cell] = []
    copy = 0
    while len(out) < count:
        out += [replace(c, repeat=c.repeat + copy * scenario.matrix.repeat) for c in cells]
        copy += 1
    return out[:count]


def jobs_for(scenario: Scenario, cells: Sequence[Cell], count: int) -> list[CellJob]:
    return [job_for(scenario, c) for c in repeated(scenario, cells, count)]


def judged(outcomes: Sequence[Outcome], jobs: Sequence[CellJob]) -> tuple[str, ...]:
    """Why each cell that did not pass failed: its verdict, or a missing or repeated report."""
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
    """What the supervisor adds to its own environment for a probe."""
    env = {str(k): str(v) for k, v in job.to_json()["env"].items()}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


# ---------------------------------------------------------------------------------------------
# (a) and (b): one backend batch


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
# (d) and (c): the probe straight from docker, one call per cell


@dataclass(frozen=True, kw_only=True)
class Naive:
    """The probe and venv in the naive image, and how its containers are confined."""

    client: docker.DockerClient
    confinement: containers.Confinement
    labels: dict[str, str]

    @property
    def work(self) -> str:
        return self.confinement.home

    @property
    def python(self) -> str:
        return f"{self.work}/venv/bin/python"

    @property
    def probe(self) -> str:
        return f"{self.work}/probe.py"

    def exec_per_cell(self, container: Container, jobs: Sequence[CellJob]) -> Measured:
        failures: list[str] = []
        start = time.perf_counter()
        for index, job in enumerate(jobs):
            events = f"/tmp/wheelclash-events-{time.monotonic_ns()}-{index}.jsonl"
            code, output = container.exec_run(
                [self.python, self.probe, probe_spec(job, events)],
                user=self.confinement.user,
                workdir=self.work,
                environment=probe_env(job),
            )
            if code != 0:
                text = output.decode("utf-8", "replace") if isinstance(output, bytes) else ""
                failures.append(f"{job.cell_id}: exit {code}: {text.strip()[-300:]}")
        seconds = time.perf_counter() - start
        return Measured(way="exec", cells=len(jobs), seconds=seconds, failures=tuple(failures))

    def run_per_cell(self, image: str, jobs: Sequence[CellJob]) -> Measured:
        failures: list[str] = []
        start = time.perf_counter()
        for job in jobs:
            env = {"HOME": self.work, "LANG": "C.UTF-8", **probe_env(job)}
            try:
                self.client.containers.run(
                    image,
                    [self.python, self.probe, probe_spec(job, "/tmp/wheelclash-events.jsonl")],
                    remove=True,
                    network_mode="none",
                    user=self.confinement.user,
                    working_dir=self.work,
                    environment=env,
                    mem_limit=self.confinement.memory,
                    memswap_limit=self.confinement.memory,
                    pids_limit=self.confinement.pids,
                    cap_drop=["ALL"],
                    security_opt=["no-new-privileges"],
                    labels=self.labels,
                )
            except docker.errors.ContainerError as exc:
                raw: object = exc.stderr  # bytes, whatever the stubs say
                text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw or "")
                failures.append(f"{job.cell_id}: exit {exc.exit_status}: {text.strip()[-300:]}")
        seconds = time.perf_counter() - start
        return Measured(way="run", cells=len(jobs), seconds=seconds, failures=tuple(failures))

    def install(self, container: Container, wheels: Sequence[Path], record: Record) -> None:
        """Probe and wheels in, and the wheels installed offline into a venv the way the docker
        backend does it (harness/cells/backends/docker.py, `_install`): a venv without pip, and the
        target's own pip installing into the venv's site-packages."""
        files: dict[str, Path | bytes] = {
            self.probe: paths.PROBE,
            **{f"{self.work}/wheels/{w.name}": w for w in wheels},
        }
        user = self.confinement.user
        with record.timed("naive image: ship the probe and wheels in"):
            folders = [self.work, f"{self.work}/wheels"]
            with tarstream.owned(files, folders, user) as archive:
                container.put_archive("/", archive)

        def step(what: str, command: list[str]) -> str:
            with record.timed(f"naive image: {what}"):
                code, output = containers.exec_text(
                    container, command, user=user, workdir=self.work
                )
            if code != 0:
                raise RuntimeError(f"{what} failed (exit {code}): {output.strip()[-600:]}")
            return output

        step(
            "python3 -m venv --without-pip",
            ["python3", "-m", "venv", "--without-pip", f"{self.work}/venv"],
        )
        purelib = "import sysconfig; print(sysconfig.get_path('purelib'))"
        site = step("find site-packages", [self.python, "-c", purelib]).strip().splitlines()[-1]
        pip = ["python3", "-m", "pip", "install", "--no-index", "--no-deps"]
        pip += ["--disable-pip-version-check", "--no-cache-dir", "--target", site]
        step("pip install --target", [*pip, *(f"{self.work}/wheels/{w.name}" for w in wheels)])

    def snapshot(self, container: Container, tag: str, record: Record) -> str:
        """The container's filesystem as a new image that carries only the benchmark's label.

        Not `container.commit()`: a commit keeps the target image's `org.wheelclash.*` labels,
        its recipe hash included, so while it exists `wheelclash images` would list it and the
        image cache could take it for the target image.
        """
        repository, name = tag.rsplit(":", 1)
        with record.timed("naive image: export and import"), tempfile.TemporaryDirectory() as tmp:
            tarball = Path(tmp) / "rootfs.tar"
            with tarball.open("wb") as handle:
                # A generator of bytes chunks (the stubs say str).
                for chunk in cast(Iterator[bytes], container.export()):
                    handle.write(chunk)
            self.client.api.import_image(
                src=str(tarball),
                repository=repository,
                tag=name,
                changes=[
                    f"LABEL {BENCH_LABEL}={self.labels[BENCH_LABEL]}",
                    "ENV LANG=C.UTF-8",
                    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                ],
            )
        return str(self.client.images.get(tag).id)


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
            print(f"removing container {container.short_id}, left by a dead benchmark")
            container.remove(force=True)
    for image in client.images.list(filters={"label": BENCH_LABEL}):
        if dead(image.labels):
            print(f"removing image {image.short_id}, left by a dead benchmark")
            client.images.remove(str(image.id), force=True)


# ---------------------------------------------------------------------------------------------
# The run


@dataclass(frozen=True, kw_only=True)
class Plan:
    scenario: Scenario
    count: int
    rounds: int
    warmup: int
    target: str
    arch: str


def measure(plan: Plan, record: Record) -> None:
    scenario = plan.scenario
    local = LocalBackend()
    backend = DockerBackend()
    reason = backend.unavailable_reason()
    if reason:
        raise SystemExit(f"the docker backend cannot run here: {reason}")
    client = backend.client
    remove_dead_leftovers(client)
    # The storage driver decides most of the gap to bare: see benchmarks/README.md.
    engine = client.info()
    print(
        f"docker engine {engine.get('ServerVersion', '?')}, storage driver "
        f"{engine.get('Driver', '?')}, cgroup v{engine.get('CgroupVersion', '?')}",
        flush=True,
    )

    print("warm-up (images, wheels, venvs, page cache)", flush=True)
    with record.timed(f"target image {plan.target} (ensure; cached)"):
        target_image = images.resolve_target(client, plan.target, plan.arch)
    host_cells = cells_for(scenario, local, None)
    docker_cells = [c for c in cells_for(scenario, backend, [plan.target]) if c.arch == plan.arch]
    with record.timed("wheels, host builder (cached)"):
        host_wheels = wheels_for(scenario, host_cells[0], local)
    with record.timed(f"wheels, {plan.target} builder (cached)"):
        docker_wheels = wheels_for(scenario, docker_cells[0], backend)
    host_jobs = jobs_for(scenario, host_cells, plan.count)
    docker_jobs = jobs_for(scenario, docker_cells, plan.count)

    with ExitStack() as stack:
        with record.timed("local backend: open (venv cached)"):
            session = stack.enter_context(local.open("host", plan.arch, host_wheels))
        record.warm("bare", warm_batch(session, host_jobs[: plan.warmup]))
        # A session runs one batch: a second `run` on the same DockerSession can find its
        # container killed (see benchmarks/README.md), so the warm-up has a session of its own.
        with (
            record.timed("docker backend: warm-up session (open, warm-up batch, close)"),
            backend.open(plan.target, plan.arch, docker_wheels) as warm,
        ):
            record.warm("docker", warm_batch(warm, docker_jobs[: plan.warmup]))

        def bare() -> None:
            record.add(timed_batch("bare", session, host_jobs))

        def dockerized() -> None:
            with ExitStack() as inner:
                start = time.perf_counter()
                opened = inner.enter_context(backend.open(plan.target, plan.arch, docker_wheels))
                record.session_opens.append(time.perf_counter() - start)
                record.add(timed_batch("docker", opened, docker_jobs))

        for index in range(plan.rounds):
            print(f"round {index + 1} of {plan.rounds}", flush=True)
            steps: list[Callable[[], None]] = [bare, dockerized]
            for step in steps if index % 2 == 0 else reversed(steps):
                step()

    settings = load_settings()
    owner = owner_label()
    tag = f"{BENCH_REPOSITORY}:{os.getpid()}-{time.time_ns()}"
    naive = Naive(
        client=client,
        confinement=settings.confinement,
        labels={LABEL_OWNER: owner, BENCH_LABEL: owner},
    )
    print("docker exec and docker run per cell", flush=True)
    try:
        with ExitStack() as stack:
            with record.timed("naive image: container start"):
                container = stack.enter_context(
                    containers.confined(
                        client, target_image.image_id, settings.confinement, naive.labels
                    )
                )
            naive.install(container, [w.path for w in docker_wheels], record)
            image = naive.snapshot(container, tag, record)
            # (d) in this container: the image is made, so the runs leave nothing in it.
            record.warm("exec", naive.exec_per_cell(container, docker_jobs[: plan.warmup]).failures)
            record.add(naive.exec_per_cell(container, docker_jobs))
        record.warm("run", naive.run_per_cell(image, docker_jobs[: plan.warmup]).failures)
        record.add(naive.run_per_cell(image, docker_jobs))
    finally:
        remove_ours(client, owner, tag)


# ---------------------------------------------------------------------------------------------
# Report


def report(record: Record) -> int:
    print("\none-off costs (not in the table):")
    for what, seconds in record.costs:
        print(f"  {what:<62} {seconds:7.2f} s")
    opens = record.session_opens
    if opens:
        each = ", ".join(f"{s:.2f}" for s in opens)
        print(
            f"  {'docker backend: session open (start, ship in, venv, pip)':<62} "
            f"{min(opens):7.2f} s  (fastest; each: {each})"
        )

    print(
        f"\n{'way (fastest round)':<38} {'cells':>5} {'seconds':>8} {'ms/cell':>8} {'cells/s':>8}"
        f" {'probe ms':>9} {'rest ms':>8} {'failed':>6}"
    )
    for way in WAYS:
        if not record.rounds[way]:
            continue
        r = record.best(way)
        probe = r.probe_ms_per_cell
        shown = (
            (f"{probe:9.1f}", f"{r.ms_per_cell - probe:8.1f}") if probe is not None else ("-", "-")
        )
        failed = sum(len(m.failures) for m in record.rounds[way])
        print(
            f"{TITLES[way]:<38} {r.cells:>5} {r.seconds:>8.2f} {r.ms_per_cell:>8.1f} "
            f"{r.per_second:>8.2f} {shown[0]:>9} {shown[1]:>8} {failed:>6}"
        )
    print(
        "  probe ms: the probe's wall time as the supervisor measured it (fork to exit seen, "
        "10 ms polls included);\n  rest ms: everything else per cell (supervisor, batch set-up, "
        "streaming)"
    )
    for way in ("bare", "docker"):
        rates = " ".join(f"{m.per_second:.2f}" for m in record.rounds[way])
        print(f"  {way} cells/s in each round: {rates}")

    failures = [*record.warm_failures]
    failures += [f"{m.way}: {f}" for w in WAYS for m in record.rounds[w] for f in m.failures]
    complete = all(record.rounds[w] for w in WAYS)
    if complete:
        print_ratios(record)
    timed = len(failures) - len(record.warm_failures)
    print(f"\nfailed cells: {timed} timed, {len(record.warm_failures)} in warm-ups")
    for line in failures[:SHOWN_FAILURES]:
        print(f"  {line}")
    if failures:
        print("  a benchmark over failing cells measures nothing: fix them first")
        return 1
    return 0 if complete else 1


def print_ratios(record: Record) -> None:
    docker_rate = record.best("docker").per_second
    ratios: list[tuple[str, float, float | None]] = [
        ("docker backend / bare", docker_rate / record.best("bare").per_second, BARE_GOAL),
        (
            "docker backend / docker run per cell",
            docker_rate / record.best("run").per_second,
            NAIVE_GOAL,
        ),
        (
            "docker backend / docker exec per cell",
            docker_rate / record.best("exec").per_second,
            None,
        ),
    ]
    print("\nthroughput ratios (fastest rounds):")
    for what, ratio, goal in ratios:
        verdict = (
            "" if goal is None else f"goal >= {goal:g}x: {'met' if ratio >= goal else 'NOT met'}"
        )
        print(f"  {what:<40} {ratio:6.2f}x   {verdict}")
    pairs = zip(record.rounds["docker"], record.rounds["bare"], strict=True)
    per_round = [d.per_second / b.per_second for d, b in pairs]
    print(
        "  docker backend / bare in each round: "
        + " ".join(f"{r:.2f}" for r in per_round)
        + f" (median {statistics.median(per_round):.2f})"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Throughput of bare, docker backend, docker exec and docker run per cell."
    )
    parser.add_argument("--cells", type=int, default=96, help="cells per timed pass (96)")
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="interleaved passes of (a) and (b); fastest counts (3)",
    )
    parser.add_argument("--warmup", type=int, default=6, help="untimed cells per way first (6)")
    parser.add_argument("--target", default="debian:bookworm", help="docker target")
    parser.add_argument(
        "--imports-only",
        action="store_true",
        help="cells that only import the modules (no exercises, no victims): the 'bare import "
        "process' the issue's goals are stated for",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log the harness's steps")
    args = parser.parse_args(argv)
    if args.cells < 1 or args.rounds < 1 or args.warmup < 0:
        parser.error("--cells and --rounds must be at least 1, --warmup at least 0")
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    signal.signal(signal.SIGTERM, unwind)

    scenario = load_scenario(SCENARIO, load_catalogue())
    if args.imports_only:
        scenario = replace(
            scenario,
            wheels=tuple(replace(w, exercise=None) for w in scenario.wheels),
            matrix=replace(scenario.matrix, victims=False),
        )
    plan = Plan(
        scenario=scenario,
        count=args.cells,
        rounds=args.rounds,
        warmup=args.warmup,
        target=args.target,
        arch=platform.machine(),
    )
    distinct = len(cells_for(scenario, LocalBackend(), None))
    load = os.getloadavg()[0]
    print(
        f"wheelclash backends benchmark, {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}"
        f", {platform.node()}, {os.cpu_count()} cores, host Python {platform.python_version()}\n"
        f"scenario {scenario.name}: {distinct} distinct cells, {plan.count} per timed pass, "
        f"{plan.rounds} rounds of (a) and (b), {plan.warmup} warm-up cells per way; "
        f"docker target {plan.target}/{plan.arch}",
        flush=True,
    )
    record = Record()
    try:
        measure(plan, record)
    finally:
        print(
            f"\nload average (1 min): {load:.2f} at the start, {os.getloadavg()[0]:.2f} at the end"
            " (this run keeps about 1 core busy; more means other work skewed the figures)"
        )
    return report(record)


def unwind(signum: int, frame: FrameType | None) -> None:
    """SIGTERM unwinds like Ctrl-C, so every `finally` removes what it made."""
    raise KeyboardInterrupt(f"signal {signum}")


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt as interrupted:
        print(f"\ninterrupted ({interrupted or 'Ctrl-C'}); containers and images removed")
        sys.exit(130)
