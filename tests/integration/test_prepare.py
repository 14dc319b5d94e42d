"""Preparing a run in a real engine: two builders building at once, and one bootstrap for two
callers of the same image (real mmdebstrap, under a throwaway image repository)."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

import docker
import pytest

from harness.build.toolchains import load_catalogue
from harness.cells.backends.docker import DockerBackend
from harness.common.digests import file_sha256
from harness.images import provision as images
from harness.images.catalogue import host_arch
from harness.images.containers import LABEL_OWNER, owner
from harness.run import prepare
from harness.run.runner import group_cells, wheels_for
from harness.run.taskgraph import Step, run_steps
from harness.scenario.load import load_scenario
from harness.scenario.plan import plan
from tests.integration.conftest import SCENARIOS

pytestmark = [pytest.mark.docker, pytest.mark.integration]


def mine(client: docker.DockerClient) -> list[str]:
    found = client.containers.list(all=True, sparse=True, filters={"label": LABEL_OWNER})
    return [str(c.id) for c in found if c.attrs["Labels"][LABEL_OWNER] == owner()]


def test_two_builders_build_their_wheels_at_once(
    client: docker.DockerClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("WHEELCLASH_CACHE", str(tmp_path / "cache"))  # the wheels are built
    caplog.set_level(logging.INFO, logger="harness.run.taskgraph")
    scenario = load_scenario(SCENARIOS / "call-once.toml", load_catalogue())
    units = group_cells(plan(scenario, targets=["debian:bookworm", "debian:trixie"]))
    backend = DockerBackend()
    built = prepare.prepare_groups(units, lambda _: scenario, lambda _: backend, wheels_for, jobs=2)
    assert list(built) == [u[0].group for u in units]
    for group, suite in zip(built, ("bookworm", "trixie"), strict=True):
        wheels = built[group]
        assert [w.wheel_id for w in wheels] == ["a", "b"]
        for wheel in wheels:
            assert wheel.path.is_file() and wheel.path.is_relative_to(tmp_path / "cache")
            assert wheel.sha256 == file_sha256(wheel.path)
            assert wheel.builder == f"debian:{suite}/{host_arch()} builder"
    assert len({w.sha256 for ws in built.values() for w in ws}) == 4
    wheel_threads = {
        r.threadName for r in caplog.records if r.getMessage().startswith("prepared wheel ")
    }
    assert len(wheel_threads) == 2, wheel_threads  # the pool's two threads both built wheels
    assert all(str(name).startswith("wheelclash-prepare") for name in wheel_threads)
    assert mine(client) == []  # no builder container left


def test_two_callers_of_one_image_bootstrap_it_once(
    client: docker.DockerClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recipe = images.recipe_for("bookworm", host_arch())
    ours = client.images.list(filters={"label": f"{images.LABEL_HASH}={recipe.recipe_hash}"})
    repository = f"wheelclash-test-{os.getpid()}"
    monkeypatch.setenv(images.REPOSITORY_ENV, repository)
    monkeypatch.setenv("WHEELCLASH_CACHE", str(tmp_path / "cache"))  # its locks too

    def ensure(_: Mapping[str, object]) -> object:
        return images.ensure_image(client, recipe)

    steps = [Step(key=f"caller {i}", label=f"caller {i}", work=ensure) for i in (1, 2)]
    before = images.bootstrap_count()
    try:
        results = run_steps(steps, jobs=2)
        assert images.bootstrap_count() == before + 1  # mmdebstrap ran once
        found = [r for r in results.values() if isinstance(r, images.ImageInfo)]
        assert len(found) == 2 and found[0] == found[1]
        assert found[0].tag == f"{repository}/target:debian-bookworm-{host_arch()}"
        # The developer's image of the same recipe (under `wheelclash/`) was not taken.
        assert found[0].image_id not in {str(i.id) for i in ours}
        assert images.in_repository(client.images.get(found[0].image_id).tags)
    finally:
        for image in client.images.list(filters={"label": images.LABEL_HASH}):
            if images.in_repository(image.tags):
                client.images.remove(str(image.id), force=True)
    assert not [i for i in client.images.list() if images.in_repository(i.tags)]
