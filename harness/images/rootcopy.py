"""Root copies: an image's whole root filesystem copied once into a named volume on the
engine's disk, for cell containers that run their probes chrooted into it where the storage
driver slows every file access (fuse-overlayfs).

Mirroring folders (mirrors.py) moves their files off the storage driver, but not `/` itself:
every path a process resolves starts there, and fuse-overlayfs answers each lookup on a
layer's root with a round trip to its daemon (an ACL check; 72% of its calls in
benchmarks/README.md's strace). Chrooted into a copy on the engine's disk, an interpreter
importing numpy and ssl ran as fast as on the host (107 to 121 ms, host 113 ms), against
142 to 155 ms on the container's own root.

The copy is made by the image's own `cp -a -x` (GNU or busybox, in every distro image) in a
container that runs as root without network: the other filesystems (/proc, /sys, /dev, the
volume itself) stay out, their mount points in, and `points`, the folders the cell
containers mount their own filesystems on, are made too, since the copy is mounted
read-only. It shares mirrors.py's names, labels, completion flags and lock, so `wheelclash
cache prune` treats it as one of the image's mirrors.
"""

from __future__ import annotations

import logging
import shlex
from collections.abc import Sequence
from typing import Final

import docker
import docker.errors
from docker.types import Mount

from harness.common.locking import file_lock
from harness.errors import InfrastructureError
from harness.images import mirrors
from harness.images.containers import LABEL_OWNER, owner

logger = logging.getLogger(__name__)

FILL_TIMEOUT_S: Final = 900  # 272 MB of bookworm took 7 s here; an emulated arch far longer


def key(points: Sequence[str]) -> str:
    """The mirror path a root copy is named and labelled by: `/` and the mount points it
    was made with, so a change of them makes a new copy."""
    return "/:" + ",".join(sorted(points))


def described(path: str) -> str:
    """A mirror's path as `wheelclash cache` lists it: a root copy's as what it is."""
    return "the root filesystem" if path.startswith("/:") else path


def ensure(client: docker.DockerClient, image_id: str, where: str, points: Sequence[str]) -> str:
    """The volume holding a complete copy of the image's root filesystem, made now where
    the engine has none; `where` is the folder it is mounted on while it is filled (and in
    the cell containers), `points` the folders to make in it."""
    path = key([where, *points])
    try:
        with file_lock(f"mirror-{image_id.removeprefix('sha256:')[:16]}"):
            for generation in range(mirrors.GENERATIONS):
                volume = mirrors.volume_name(image_id, path, generation, slug="root")
                if not mirrors.exists(client, volume):
                    _fill(client, image_id, path, volume, where, points)
                    return volume
                if mirrors.exists(client, mirrors.flag_name(volume)):
                    return volume
                logger.info("%s was never completed; trying the next name", volume)
    except mirrors.ENGINE_FAILURES as exc:
        raise InfrastructureError(f"could not copy the image's root filesystem: {exc}") from exc
    raise InfrastructureError(
        f"{mirrors.GENERATIONS} copies of the root filesystem of image {image_id[:19]} were "
        "started and none completed; remove them with `wheelclash cache prune`"
    )


def fill_command(where: str, points: Sequence[str]) -> list[str]:
    made = " ".join(shlex.quote(f"{where}{p}") for p in points)
    script = f"cp -a -x /. {shlex.quote(where)}/"
    if made:
        script += f" && mkdir -p {made}"
    return ["sh", "-c", script]


def _fill(
    client: docker.DockerClient,
    image_id: str,
    path: str,
    volume: str,
    where: str,
    points: Sequence[str],
) -> None:
    logger.warning(
        "copying the root filesystem of image %s into a volume on the engine's disk (once "
        "per image), for the storage driver's sake",
        image_id.removeprefix("sha256:")[:12],
    )
    client.volumes.create(volume, labels={mirrors.LABEL_MIRROR: image_id, mirrors.LABEL_PATH: path})
    filler = client.containers.create(
        image_id,
        fill_command(where, points),
        user="0:0",
        mounts=[Mount(where, volume, type="volume")],
        network_mode="none",
        labels={LABEL_OWNER: owner()},
    )
    try:
        filler.start()
        status = filler.wait(timeout=FILL_TIMEOUT_S)
        code = int(status.get("StatusCode", -1))
        if code != 0:
            said = filler.logs(tail=5).decode("utf-8", "replace").strip()
            raise InfrastructureError(f"the image's cp exited {code}: {said[-400:]}")
    except BaseException:
        filler.remove(force=True)
        mirrors.remove(client, volume)
        raise
    filler.remove(force=True)
    client.volumes.create(mirrors.flag_name(volume), labels={mirrors.LABEL_DONE: volume})
