"""A target image's own /usr/lib, from a named volume, for engines with a slow storage driver.

On fuse-overlayfs (and vfs) every file lookup in a container's root filesystem goes through a
slow path; Python's start-up makes hundreds of them under /usr/lib (the standard library,
lib-dynload, libc, libstdc++). A named volume lives on the engine's plain filesystem instead.
Docker fills an empty named volume with the image's content at the mount point the first time
a container mounts it, so a volume per image id holds a byte-for-byte copy of that image's
/usr/lib; cell containers mount it read-only. Nothing of the host is mounted, and the code
under test cannot write there. Only /usr/lib: the engine's init binary is mounted at
/sbin/docker-init, which is /usr/sbin on a merged-/usr system.
"""

from __future__ import annotations

import logging
from typing import Final

import docker
import docker.errors

from harness.errors import InfrastructureError
from harness.locking import file_lock

logger = logging.getLogger(__name__)

LABEL_IMAGE: Final = "org.wheelclash.usr-of"
MOUNT_POINT: Final = "/usr/lib"


def volume_name(image_id: str) -> str:
    return f"wheelclash-usr-{image_id.removeprefix('sha256:')[:16]}"


def ensure(client: docker.DockerClient, image_id: str) -> str:
    """The name of the volume holding `image_id`'s /usr/lib, filled on first use (under a lock)."""
    name = volume_name(image_id)
    with file_lock(f"usr-volume-{name}"):
        try:
            client.volumes.get(name)
            return name
        except docker.errors.NotFound:
            pass
        logger.info("+ docker volume create %s  # %s's /usr/lib", name, image_id[:19])
        try:
            client.volumes.create(name, labels={LABEL_IMAGE: image_id})
            # The first mount of an empty named volume copies the image's files into it; the
            # engine does the copy while it creates the container, so it is whole on return.
            client.containers.run(
                image_id,
                ["true"],
                remove=True,
                network_mode="none",
                volumes={name: {"bind": MOUNT_POINT, "mode": "rw"}},
                labels={LABEL_IMAGE: image_id},
            )
        except docker.errors.DockerException as exc:
            try:
                client.volumes.get(name).remove(force=True)
            except docker.errors.DockerException:
                pass
            raise InfrastructureError(
                f"could not fill the /usr/lib volume {name} from {image_id[:19]}: {exc}"
            ) from None
    return name


def remove_orphans(client: docker.DockerClient) -> int:
    """Remove /usr/lib volumes whose image is gone (rebuilt with a new recipe, or removed)."""
    removed = 0
    for volume in client.volumes.list(filters={"label": LABEL_IMAGE}):
        image_id = str((volume.attrs.get("Labels") or {}).get(LABEL_IMAGE, ""))
        try:
            client.images.get(image_id)
            continue
        except docker.errors.ImageNotFound:
            pass
        try:
            volume.remove(force=True)
            removed += 1
        except docker.errors.APIError:
            continue  # in use by a running container of another process
    return removed
