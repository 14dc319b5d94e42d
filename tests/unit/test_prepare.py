"""What a run prepares before its first cell, and what waits for what (no engine, no build)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import cast

import docker
import pytest

from harness.build.builders import Builder, ContainerBuilder, HostBuilder
from harness.build.toolchains import load_catalogue
from harness.build.wheels import BuiltWheel
from harness.cells.backends import Backend, Session
from harness.errors import InputError
from harness.run import prepare
from harness.run.runner import group_cells
from harness.run.taskgraph import Step
from harness.scenario.load import Scenario, load_scenario
from harness.scenario.plan import Cell, plan

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
GIB = 2**30


class FakeBackend:
    """Names where wheels build; never opens a session (steps are only listed here)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._builders: dict[tuple[str, str], Builder] = {}

    def unavailable_reason(self) -> str | None:
        return None

    def describe(self) -> Mapping[str, str]:
        return {"backend": self.name}

    def builder(self, target: str, arch: str) -> Builder:
        if self.name == "local":
            return HostBuilder(arch)
        suite = target.partition(":")[2]
        client = cast(docker.DockerClient, None)  # recipes only: the engine is never asked
        return self._builders.setdefault((suite, arch), ContainerBuilder(client, suite, arch))

    def open(
        self, target: str, arch: str, wheels: Sequence[BuiltWheel], batches: int = 1
    ) -> AbstractContextManager[Session]:
        raise AssertionError("listing steps opens no session")


def units(*names: str, targets: Sequence[str]) -> tuple[list[list[Cell]], dict[str, Scenario]]:
    scenarios = {n: load_scenario(SCENARIOS / f"{n}.toml", load_catalogue()) for n in names}
    cells = [c for s in scenarios.values() for c in plan(s, targets=targets, arches=["x86_64"])]
    return group_cells(cells), scenarios


def no_assembly(scenario: Scenario, cell: Cell, backend: Backend) -> tuple[BuiltWheel, ...]:
    raise AssertionError("not run here")


def steps(backend: FakeBackend, *names: str, targets: Sequence[str]) -> list[Step]:
    groups, scenarios = units(*names, targets=targets)
    return prepare.steps_for(
        groups, lambda c: scenarios[c.scenario], lambda _: cast(Backend, backend), no_assembly
    )


def by_label(found: Sequence[Step]) -> Iterator[tuple[str, Step]]:
    return ((s.label, s) for s in found)


def test_docker_run_builder_images_then_wheels_then_targets_then_groups() -> None:
    found = steps(FakeBackend("docker"), "call-once", targets=["debian:bookworm", "debian:trixie"])
    kinds = [s.key.split(" ")[0] for s in found]
    assert kinds == ["builder-image"] * 2 + ["wheel"] * 4 + ["target-image"] * 2 + ["group"] * 2
    labels = dict(by_label(found))
    keys = {s.key: s for s in found}
    for suite in ("bookworm", "trixie"):
        image = labels[f"builder image wheelclash/builder:debian-{suite}-x86_64"]
        target = labels[f"target image debian:{suite} (x86_64)"]
        assert target.needs == ()  # bootstraps alongside the builders
        wheels = [s for s in found if s.key.startswith("wheel") and suite in s.label]
        assert len(wheels) == 2
        for wheel in wheels:
            assert wheel.needs == (image.key,)  # its own builder image, nothing else
        group = labels[f"the wheel set of call-once/debian-{suite}-x86_64"]
        assert set(group.needs) == {w.key for w in wheels} | {target.key}
        assert all(need in keys for need in group.needs)


def test_a_wheel_shared_by_two_scenarios_is_one_step() -> None:
    found = steps(
        FakeBackend("docker"), "call-once", "call-once-bsymbolic", targets=["debian:bookworm"]
    )
    wheels = [s for s in found if s.key.startswith("wheel")]
    # a (static-libstdcxx-hidden) is the same in both; b is shared and bsymbolic-functions.
    assert len(wheels) == 3
    groups = [s for s in found if s.key.startswith("group")]
    assert len(groups) == 2
    shared = set(groups[0].needs) & set(groups[1].needs)
    assert len(shared) == 2  # wheel a and the target image
    assert len([s for s in found if s.key.startswith("builder-image")]) == 1


def test_local_run_needs_no_images() -> None:
    found = steps(FakeBackend("local"), "call-once", targets=["host"])
    assert [s.key.split(" ")[0] for s in found] == ["wheel", "wheel", "group"]
    assert all(s.needs == () for s in found if s.key.startswith("wheel"))


@pytest.mark.parametrize(
    ("cpus", "available", "jobs"),
    [(2, 21 * GIB, 2), (8, 5 * GIB, 2), (4, GIB, 1), (1, 64 * GIB, 1), (16, 0, 1)],
)
def test_the_bound_is_cores_and_two_gib_each(cpus: int, available: int, jobs: int) -> None:
    assert prepare.bound(cpus, available) == jobs


def test_the_environment_sets_the_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(prepare.JOBS_ENV, "3")
    assert prepare.prepare_jobs() == 3
    monkeypatch.setenv(prepare.JOBS_ENV, "1")
    assert prepare.prepare_jobs() == 1
    monkeypatch.delenv(prepare.JOBS_ENV)
    assert prepare.prepare_jobs() >= 1


@pytest.mark.parametrize("value", ["0", "two", "-1", "1.5"])
def test_a_bad_bound_is_an_input_error(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(prepare.JOBS_ENV, value)
    with pytest.raises(InputError) as caught:
        prepare.prepare_jobs()
    assert f"WHEELCLASH_PREPARE_JOBS={value!r}" in str(caught.value)
    assert "whole number of 1 or more" in str(caught.value)
