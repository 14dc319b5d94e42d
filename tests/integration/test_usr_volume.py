"""The target image's /usr/lib served from a read-only named volume (slow storage drivers)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import replace

import docker
import docker.errors
import pytest

from harness import containers, images, usr_volume
from harness.backends.docker import LABEL_OWNER, DockerBackend, load_settings, owner_label
from harness.errors import InfrastructureError
from harness.jobs import CellJob, Import
from harness.plan import plan
from harness.runner import wheels_for
from harness.scenario import load_scenario
from harness.verdict import Verdict, classify
from tests.integration.conftest import SCENARIOS

pytestmark = pytest.mark.docker

TARGET = "debian:bookworm"


@pytest.fixture(scope="module")
def client() -> Iterator[docker.DockerClient]:
    engine = docker.from_env()
    yield engine
    engine.close()


def test_cells_read_the_images_usr_lib_from_a_read_only_volume(
    client: docker.DockerClient,
) -> None:
    backend = DockerBackend(settings=replace(load_settings(), usr_volume="always"))
    scenario = load_scenario(SCENARIOS / "healthy.toml")
    wheels = wheels_for(scenario, plan(scenario, targets=[TARGET])[0], backend)
    image = images.resolve_target(client, TARGET, "x86_64")
    job = CellJob(
        cell_id="usr-volume/import",
        imports=tuple(Import(module=w.module, rtld_global=False) for w in wheels),
        exercises=(),
        victims=True,
        preload="",
        timeout_s=30,
    )
    with backend.open(TARGET, "x86_64", wheels) as session:
        container = session.container  # type: ignore[attr-defined]
        user = load_settings().confinement.user
        code, mounts = containers.exec_text(
            container, ["cat", "/proc/mounts"], user=user, workdir="/"
        )
        assert code == 0
        (line,) = [m for m in mounts.splitlines() if m.split()[1] == usr_volume.MOUNT_POINT]
        assert "ro" in line.split()[3].split(",")
        code, output = containers.exec_text(
            container, ["touch", "/usr/lib/wheelclash-was-here"], user="0:0", workdir="/"
        )
        assert code != 0 and "Read-only file system" in output
        (outcome,) = list(session.run([job]))
    assert classify(outcome).verdict == Verdict.PASS, outcome.stderr_tail
    volume = client.volumes.get(usr_volume.volume_name(image.image_id))
    assert volume.attrs["Labels"][usr_volume.LABEL_IMAGE] == image.image_id


def test_a_container_that_cannot_start_is_removed(client: docker.DockerClient) -> None:
    """The /usr/lib copy mounted over all of /usr hides sleep and docker-init: start fails."""
    image = images.resolve_target(client, TARGET, "x86_64")
    volume = usr_volume.ensure(client, image.image_id)
    mark = secrets.token_hex(6)
    labels = {LABEL_OWNER: owner_label(), "org.wheelclash.test": mark}
    with (
        pytest.raises(InfrastructureError, match="could not start a container"),
        containers.confined(
            client,
            image.image_id,
            load_settings().confinement,
            labels,
            read_only_volumes={volume: "/usr"},
        ),
    ):
        pytest.fail("the container started")
    left = client.containers.list(all=True, filters={"label": f"org.wheelclash.test={mark}"})
    assert left == []


def test_volumes_of_images_that_are_gone_are_removed(client: docker.DockerClient) -> None:
    image = images.resolve_target(client, TARGET, "x86_64")
    kept = usr_volume.ensure(client, image.image_id)
    gone_image = "sha256:" + secrets.token_hex(32)
    orphan = client.volumes.create(
        usr_volume.volume_name(gone_image), labels={usr_volume.LABEL_IMAGE: gone_image}
    )
    try:
        assert usr_volume.remove_orphans(client) >= 1
        with pytest.raises(docker.errors.NotFound):
            client.volumes.get(str(orphan.name))
        assert client.volumes.get(kept).name == kept
    finally:
        try:
            client.volumes.get(str(orphan.name)).remove(force=True)
        except docker.errors.NotFound:
            pass
