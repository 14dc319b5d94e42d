"""Mirrors: folders of a target image copied once into named volumes on the engine's disk, and
mounted read-only in its cell containers, where the engine's storage driver slows every file
access (fuse-overlayfs: `mirror = true` in doctor.toml's `storage_drivers`).

A cell's interpreter opens hundreds of files under /usr/lib (the standard library, its C
extensions, libc, libstdc++); through fuse-overlayfs each open and stat is a round trip to a
user-space daemon. From a volume they are plain files of the engine's disk. Measured with
benchmarks/cell_steps.py: a cell in a container took 1.31x to 1.43x its time on the host with
the image's own /usr/lib and /usr/bin, 1.17x to 1.28x with copies of them in volumes; whole
atlas runs (benchmarks/atlas.py, with --before) were 5% to 12% faster with these mirrors.

A mirror is made by the engine itself: a new named volume, mounted in a container of the image
that is created and removed without ever starting, is filled with what the image holds at
that path. It is named after the image and the path, so another image never shares it and a
rebuilt image gets its own. An empty flag volume, made once the fill ended, says it is
complete: the engine's own record, shared by every process and machine that uses it. Makers
on one machine take a file lock, so parallel runs fill it once. `wheelclash cache prune`
removes the mirrors of the images it removes, of images that are gone, and those never
completed.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import docker
import docker.errors
from docker.types import Mount

from harness.common.locking import file_lock
from harness.errors import InfrastructureError
from harness.images.containers import LABEL_OWNER, owner

logger = logging.getLogger(__name__)

LABEL_MIRROR: Final = "org.wheelclash.mirror"  # its value: the image id
LABEL_PATH: Final = "org.wheelclash.mirror-path"
LABEL_DONE: Final = "org.wheelclash.mirror-complete"  # on the flag volume; its value: the mirror
GENERATIONS: Final = 8  # fills tried per image and folder before giving up
ENGINE_FAILURES: Final = (docker.errors.DockerException, OSError)


@dataclass(frozen=True, kw_only=True)
class Mirror:
    path: str  # the folder in the image
    volume: str  # the named volume holding its copy


def volume_name(image_id: str, path: str, generation: int = 0, slug: str = "") -> str:
    image = image_id.removeprefix("sha256:")[:16]
    where = hashlib.sha256(path.encode()).hexdigest()[:8]
    slug = slug or path.strip("/").replace("/", "-") or "root"
    return f"wheelclash-mirror-{image}-{slug}-{where}-{generation}"


def flag_name(volume: str) -> str:
    """The empty volume whose existence says `volume` was filled to the end."""
    return f"{volume}-complete"


def exists(client: docker.DockerClient, volume: str) -> bool:
    try:
        client.volumes.get(volume)
    except docker.errors.NotFound:
        return False
    return True


def ensure(
    client: docker.DockerClient, image_id: str, folders: Sequence[str]
) -> tuple[Mirror, ...]:
    """The image's mirrors of `folders`, made now where the engine has none complete.

    A mirror's volume is never replaced: one found without its flag (being filled by another
    machine's run, or a fill that was killed) is passed over for the next generation's name,
    so no container ever sees a mirror change under it."""
    if not folders:
        return ()
    found: list[Mirror] = []
    try:
        with file_lock(f"mirror-{image_id.removeprefix('sha256:')[:16]}"):
            for folder in folders:
                found.append(_one(client, image_id, folder))
    except ENGINE_FAILURES as exc:
        raise InfrastructureError(
            f"could not copy the image's folders into volumes: {exc}"
        ) from exc
    return tuple(found)


def _one(client: docker.DockerClient, image_id: str, folder: str) -> Mirror:
    for generation in range(GENERATIONS):
        volume = volume_name(image_id, folder, generation)
        if not exists(client, volume):
            _fill(client, image_id, folder, volume)
            return Mirror(path=folder, volume=volume)
        if exists(client, flag_name(volume)):
            return Mirror(path=folder, volume=volume)
        logger.info("%s was never completed; trying the next name", volume)
    raise InfrastructureError(
        f"{GENERATIONS} copies of {folder} of image {image_id[:19]} were started and none "
        "completed; remove them with `wheelclash cache prune`"
    )


def _fill(client: docker.DockerClient, image_id: str, folder: str, volume: str) -> None:
    logger.warning(
        "copying %s of image %s into a volume on the engine's disk (once per image), for the "
        "storage driver's sake",
        folder,
        image_id.removeprefix("sha256:")[:12],
    )
    client.volumes.create(volume, labels={LABEL_MIRROR: image_id, LABEL_PATH: folder})
    # The engine copies the image's files into an empty volume as it creates a container that
    # mounts it: the container is never started.
    filler = client.containers.create(
        image_id,
        ["true"],
        mounts=[Mount(folder, volume, type="volume")],
        network_mode="none",
        labels={LABEL_OWNER: owner()},
    )
    filler.remove(force=True)
    client.volumes.create(flag_name(volume), labels={LABEL_DONE: volume})


@dataclass(frozen=True, kw_only=True)
class Stored:
    volume: str
    image_id: str
    path: str
    complete: bool  # False: its fill never ended (killed), or is under way


def stored(client: docker.DockerClient) -> list[Stored]:
    """Every mirror volume on the engine."""
    flags = {
        str((v.attrs.get("Labels") or {}).get(LABEL_DONE, ""))
        for v in client.volumes.list(filters={"label": LABEL_DONE})
    }
    return [
        Stored(
            volume=str(v.name),
            image_id=str((v.attrs.get("Labels") or {}).get(LABEL_MIRROR, "")),
            path=str((v.attrs.get("Labels") or {}).get(LABEL_PATH, "")),
            complete=str(v.name) in flags,
        )
        for v in client.volumes.list(filters={"label": LABEL_MIRROR})
    ]


def remove(client: docker.DockerClient, volume: str) -> str:
    """Remove a mirror's volume, then its flag; '' when gone, else the engine's reason (a
    container uses it, and both stay)."""
    for name in (volume, flag_name(volume)):
        try:
            client.volumes.get(name).remove(force=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            return str(exc.explanation or exc)
    return ""
