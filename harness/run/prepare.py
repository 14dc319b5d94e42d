"""Before the first cell: every image and wheel a run needs, made several at a time.

The run's groups name what they need: a builder image per (suite, arch, toolchain packages)
for the wheels built in containers, a target image per container target and arch, and each
fixture wheel once however many groups share it. These become steps (harness/run/taskgraph.py)
run in a bounded pool: a wheel waits only for its own builder image, target images bootstrap
alongside, and a group's wheel set is put together once its wheels and target image exist.

The bound is the number of cores this process may use, at most one per 2 GiB of available
memory; `WHEELCLASH_PREPARE_JOBS` sets it (1: one step after the other, in this thread).
Two steps, or two processes, that want the same image or wheel wait for each other on its
file lock (harness/common/locking.py), and the second finds what the first made.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Sequence
from typing import Final, cast

import psutil

from harness.build.builders import Builder, ContainerBuilder, builder_for
from harness.build.toolchains import Toolchain, load_catalogue
from harness.build.wheels import BuiltWheel, build_wheel
from harness.cells.backends import Backend
from harness.errors import InputError
from harness.run.taskgraph import Step, run_steps
from harness.scenario.load import HOST_TARGET, Scenario, WheelSpec
from harness.scenario.plan import Cell

logger = logging.getLogger(__name__)

JOBS_ENV: Final = "WHEELCLASH_PREPARE_JOBS"
GIB_PER_JOB: Final = 2

Assemble = Callable[[Scenario, Cell, Backend], tuple[BuiltWheel, ...]]


def bound(cpus: int, available: int) -> int:
    """Steps at once for `cpus` usable cores and `available` bytes of memory: at least 1."""
    return max(1, min(cpus, available // (GIB_PER_JOB * 2**30)))


def prepare_jobs() -> int:
    """`WHEELCLASH_PREPARE_JOBS` when set, else the bound for this machine now."""
    given = os.environ.get(JOBS_ENV, "").strip()
    if given:
        if not given.isdigit() or int(given) < 1:
            raise InputError(
                f"{JOBS_ENV}={given!r} is not a number of jobs",
                hint=f"set it to a whole number of 1 or more ({JOBS_ENV}=1 prepares images "
                "and wheels one at a time), or unset it to use one per core, memory allowing.",
            )
        return int(given)
    return bound(len(os.sched_getaffinity(0)), psutil.virtual_memory().available)


def wheel_key(builder: Builder, spec: WheelSpec) -> str:
    """What decides a fixture wheel besides its id: the same key is built once."""
    options = ",".join(spec.toolchain_options)
    return (
        f"wheel {spec.fixture_dir}:{spec.module} {spec.toolchain}[{options}] "
        f"{spec.link_label} @ {builder.name}"
    )


def steps_for(
    units: Sequence[Sequence[Cell]],
    scenario_of: Callable[[Cell], Scenario],
    backend_of: Callable[[Cell], Backend],
    assemble: Assemble,
) -> list[Step]:
    """The steps that prepare every group of `units`: builder images, then wheels, then
    target images, then the groups' wheel sets (ready steps start in this order)."""
    catalogue = load_catalogue()
    images: dict[str, Step] = {}
    wheels: dict[str, Step] = {}
    targets: dict[str, Step] = {}
    groups: dict[str, Step] = {}
    for unit in units:
        cell = unit[0]
        scenario = scenario_of(cell)
        backend = backend_of(cell)
        fixtures = [w for w in scenario.variant(cell.variant).wheels if not w.prebuilt]
        needs: list[str] = []
        native = backend.builder(cell.target, cell.arch) if fixtures else None
        for spec in fixtures:
            assert native is not None
            toolchain = catalogue.toolchain(spec.toolchain)
            builder = builder_for(toolchain, native, cell.arch)
            image_needs: tuple[str, ...] = ()
            if isinstance(builder, ContainerBuilder):
                tag = builder.recipe(toolchain).tag
                image_key = f"builder-image {tag}"  # one step per image, whichever builder asks
                images.setdefault(
                    image_key,
                    Step(
                        key=image_key,
                        label=f"builder image {tag}",
                        work=functools.partial(_builder_image, builder, toolchain),
                    ),
                )
                image_needs = (image_key,)
            key = wheel_key(builder, spec)
            wheels.setdefault(
                key,
                Step(
                    key=key,
                    label=f"wheel {spec.id!r} ({spec.fixture}, {spec.toolchain}, "
                    f"{spec.link_label}) in {builder.name}",
                    needs=image_needs,
                    work=functools.partial(_wheel, spec, builder),
                ),
            )
            needs.append(key)
        if backend.name == "docker" and cell.target != HOST_TARGET:
            target_key = f"target-image {cell.target} {cell.arch}"
            targets.setdefault(
                target_key,
                Step(
                    key=target_key,
                    label=f"target image {cell.target} ({cell.arch})",
                    work=functools.partial(_target_image, backend, cell.target, cell.arch),
                ),
            )
            needs.append(target_key)
        groups.setdefault(
            cell.group,
            Step(
                key=f"group {cell.group}",
                label=f"the wheel set of {cell.group}",
                needs=tuple(dict.fromkeys(needs)),
                work=functools.partial(_group, assemble, scenario, cell, backend),
            ),
        )
    return [*images.values(), *wheels.values(), *targets.values(), *groups.values()]


def _builder_image(builder: ContainerBuilder, toolchain: Toolchain, _: object) -> object:
    return builder.image(toolchain)


def _wheel(spec: WheelSpec, builder: Builder, _: object) -> BuiltWheel:
    return build_wheel(spec, load_catalogue(), builder)


def _group(
    assemble: Assemble, scenario: Scenario, cell: Cell, backend: Backend, _: object
) -> tuple[BuiltWheel, ...]:
    return assemble(scenario, cell, backend)


def _target_image(backend: Backend, target: str, arch: str, _: object) -> object:
    """The target image the docker backend opens its sessions in (bootstrapped, built from
    a Dockerfile or pulled once here; found again when a session opens)."""
    from harness.cells.backends.docker import DockerBackend

    assert isinstance(backend, DockerBackend)
    return backend.target_image(target, arch)


def prepare_groups(
    units: Sequence[Sequence[Cell]],
    scenario_of: Callable[[Cell], Scenario],
    backend_of: Callable[[Cell], Backend],
    assemble: Assemble,
    jobs: int | None = None,
) -> dict[str, tuple[BuiltWheel, ...]]:
    """Each group's wheels (by cell group, in the order of `units`), with every image and
    wheel the groups need made first, `jobs` at a time (default: `prepare_jobs()`)."""
    steps = steps_for(units, scenario_of, backend_of, assemble)
    jobs = prepare_jobs() if jobs is None else jobs
    made = sum(1 for s in steps if not s.key.startswith("group "))
    if made:
        logger.info("preparing %d image(s) and wheel(s), %d at a time", made, jobs)
    results = run_steps(steps, jobs)
    return {
        unit[0].group: cast(tuple[BuiltWheel, ...], results[f"group {unit[0].group}"])
        for unit in units
    }
