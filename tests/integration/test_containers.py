"""Confined containers: one that cannot start is removed, never left behind."""

from __future__ import annotations

import io
import secrets
import tarfile
from dataclasses import replace

import docker
import docker.errors
import pytest

from harness.cells.backends.docker import load_settings
from harness.errors import InfrastructureError
from harness.images import containers
from harness.images.containers import LABEL_OWNER, owner

pytestmark = pytest.mark.docker


def one_file_image(client: docker.DockerClient, tag: str) -> str:
    """An image holding one text file, /README."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        data = b"nothing to run here\n"
        info = tarfile.TarInfo("README")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    repository, name = tag.split(":")
    client.api.import_image_from_data(buffer.getvalue(), repository=repository, tag=name)
    return str(client.images.get(tag).id)


def test_a_container_that_cannot_start_is_removed() -> None:
    client = docker.from_env()
    mark = secrets.token_hex(6)
    tag = f"wheelclash-test/no-sleep:{mark}"
    image_id = one_file_image(client, tag)
    try:
        labels = {LABEL_OWNER: owner(), "org.wheelclash.test": mark}
        # A tmpfs over a file: the engine creates the container, and the start then fails.
        scratch = (containers.Scratch(path="/README", size="1m"),)
        confinement = replace(load_settings().confinement, scratch=scratch)
        with (
            pytest.raises(InfrastructureError, match="could not start a container"),
            containers.confined(client, image_id, confinement, labels),
        ):
            pytest.fail("a container with a tmpfs over a file started")
        left = client.containers.list(all=True, filters={"label": f"org.wheelclash.test={mark}"})
        assert left == []
    finally:
        client.images.remove(tag, force=True)
        client.close()
