"""The one place that reaches into a private attribute (SocketIO's `_sock`, through docker-py's
exec stream): closing the stream must close its descriptor, against the real engine."""

from __future__ import annotations

import os
import socket

import docker
import pytest
from docker.utils.socket import frames_iter

from harness.cells.backends.docker import load_settings
from harness.images import catalogue as image_catalogue
from harness.images import containers
from harness.images import provision as images
from harness.images.containers import LABEL_OWNER, owner

pytestmark = [pytest.mark.docker, pytest.mark.integration]


def link_of(fd: int) -> str | None:
    """What /proc/self/fd/<fd> points at (`socket:[inode]` for a socket); None once closed."""
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except FileNotFoundError:
        return None


def test_closing_the_exec_stream_closes_its_socket(client: docker.DockerClient) -> None:
    image = images.ensure_image(client, images.recipe_for("bookworm", image_catalogue.host_arch()))
    settings = load_settings()
    labels = {LABEL_OWNER: owner()}
    with containers.confined(client, image.image_id, settings.confinement, labels) as container:
        exec_id = client.api.exec_create(container.id, ["echo", "through the socket"])["Id"]
        with containers.exec_socket(client.api, exec_id) as stream:
            # The shape the closing relies on: the engine here is on a unix socket.
            assert isinstance(stream, socket.SocketIO)
            fd = stream.fileno()
            before = link_of(fd)
            assert before is not None and before.startswith("socket:")
            frames = list(frames_iter(stream, tty=False))  # type: ignore[no-untyped-call]
        assert b"through the socket" in b"".join(data for _, data in frames)
        # Closed for real: the descriptor is gone (or already reused for something else).
        assert link_of(fd) != before
