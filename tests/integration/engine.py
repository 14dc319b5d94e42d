"""What the tests that look into the engine's volumes share."""

from __future__ import annotations

import docker


def listing(
    client: docker.DockerClient, image: str, folder: str, volume: str = "", at: str = ""
) -> str:
    """`ls -la` of a folder in a container of the image, with `volume` mounted at `at`."""
    mounts = {volume: {"bind": at, "mode": "ro"}} if volume else {}
    out = client.containers.run(
        image, ["ls", "-la", "--time-style=+", folder], remove=True, volumes=mounts
    )
    assert isinstance(out, bytes)
    return out.decode()
