"""What the tests that look into the engine's volumes share."""

from __future__ import annotations

import docker


def listing(
    client: docker.DockerClient, image: str, folder: str, volume: str = "", at: str = ""
) -> str:
    """`ls -la` of a folder in a container of the image, with `volume` mounted at `at`: each
    entry's name, size, owner and mode, without the blocks they take (`total`), which differ
    between the filesystems holding the same files."""
    mounts = {volume: {"bind": at, "mode": "ro"}} if volume else {}
    out = client.containers.run(
        image, ["ls", "-la", "--time-style=+", folder], remove=True, volumes=mounts
    )
    assert isinstance(out, bytes)
    return "".join(line for line in out.decode().splitlines(True) if not line.startswith("total "))
