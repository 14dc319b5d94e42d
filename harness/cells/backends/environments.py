"""Installed environments kept between runs: a wheel set's venv, installed once in a cell
container into a named volume on the engine's disk, and mounted read-only in the next
containers of the same image and wheel set, which then install nothing.

What a container would install is known before it starts, from the image, the set's wheels
(their sha256) and the wheels of their wheelhouses (name and sha256, as the wheelhouse's
manifest recorded them when it was downloaded: build/wheelhouse.py `digests`), so the volume
is named after a hash of those, of where the venv lives and of its owner. An empty flag volume, made
once the install and byte-compilation ended, says the environment is complete: the engine's
own record, as for mirrors (images/mirrors.py). One found without its flag was killed while
filling (or is being filled on another machine's run): it is removed when no container uses
it, else passed over for the next name. A set pip refuses leaves nothing behind.

The volumes take the engine's disk, a large wheel set a few GB: each use is recorded here
(`<cache>/environment-uses/<volume>`, its mtime the last use and its text the size), and
once a fill makes them more than `kept_environments` (resources/docker.toml) together, the
least recently used are removed first. `wheelclash cache list` shows them and `cache prune`
removes them.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import docker
import docker.errors

from harness import paths
from harness.common.locking import file_lock
from harness.errors import InfrastructureError
from harness.images import mirrors
from harness.images.mirrors import exists, flag_name
from harness.images.pruning import timestamp

logger = logging.getLogger(__name__)

LABEL_KEY: Final = "org.wheelclash.environment"  # its value: the key
LABEL_IMAGE: Final = "org.wheelclash.environment-image"
LABEL_WHEELS: Final = "org.wheelclash.environment-wheels"  # what `cache list` says it holds
MAX_WHEELS_LABEL: Final = 1000
LABEL_DONE: Final = "org.wheelclash.environment-complete"  # on the flag; its value: the volume
# Bumped whenever how an environment is installed changes, so older volumes are not reused.
FORMAT: Final = 2  # 2: wheelhouse wheels by sha256, not size
GENERATIONS: Final = 8
USES: Final = "environment-uses"
PREFIX: Final = "wheelclash-env-"


@dataclass(frozen=True, kw_only=True)
class Claim:
    volume: str
    ready: bool  # complete: mount it read-only and install nothing


@dataclass(frozen=True, kw_only=True)
class Stored:
    volume: str
    image_id: str
    complete: bool
    size: int  # bytes, as recorded when it was filled here; 0 when not recorded
    wheels: str = ""  # the set's wheels, as the run that filled it named them
    last_used: float  # epoch seconds; its creation when no use is recorded here


def key(
    image_id: str,
    wheels: Sequence[str],
    wheelhouse: Sequence[tuple[str, str]],
    *,
    venv: str,
    owner: str,
) -> str:
    """What an environment holds: the image, the set's wheels (sha256), its wheelhouses'
    wheels (name, sha256), the venv's path and its owner."""
    digest = hashlib.sha256(f"{FORMAT}\0{image_id}\0{venv}\0{owner}".encode())
    for sha in sorted(wheels):
        digest.update(f"\0w{sha}".encode())
    for name, sha in sorted(wheelhouse):
        digest.update(f"\0h{name}:{sha}".encode())
    return digest.hexdigest()


def volume_name(environment: str, generation: int = 0) -> str:
    return f"{PREFIX}{environment[:24]}-{generation}"


@contextmanager
def claimed(
    client: docker.DockerClient, environment: str, image_id: str, wheels: str = ""
) -> Iterator[Claim]:
    """The volume of the environment: a complete one to mount read-only, else a new, empty
    one to install into, held by this process (a file lock, so parallel runs on this machine
    fill it once) until the context ends, within which `complete` must be called. `wheels`
    names the set's wheels, for `wheelclash cache list`."""
    with file_lock(f"environment-{environment[:24]}"):
        volume, ready = _find(client, environment)
        if not ready:
            labels = {LABEL_KEY: environment, LABEL_IMAGE: image_id}
            client.volumes.create(
                volume, labels={**labels, LABEL_WHEELS: wheels[:MAX_WHEELS_LABEL]}
            )
            record(volume)
            yield Claim(volume=volume, ready=False)
            return
    record(volume)
    yield Claim(volume=volume, ready=True)


def _find(client: docker.DockerClient, environment: str) -> tuple[str, bool]:
    """(volume, complete) for the environment: the first name that is complete, free, or
    an incomplete volume that no container uses (a killed fill: removed to be made again);
    one in use is being filled by another machine's run, and passed over."""
    for generation in range(GENERATIONS):
        volume = volume_name(environment, generation)
        if not exists(client, volume):
            return volume, False
        if exists(client, flag_name(volume)):
            return volume, True
        if not remove(client, volume):
            logger.info("%s was never completed; it is made again", volume)
            return volume, False
    raise InfrastructureError(
        f"{GENERATIONS} volumes of the environment {environment[:24]} are being filled by "
        "other runs; remove them with `wheelclash cache prune` if no run is"
    )


def complete(client: docker.DockerClient, claim: Claim, size: int) -> None:
    """Flag the claimed volume complete, holding `size` bytes."""
    client.volumes.create(flag_name(claim.volume), labels={LABEL_DONE: claim.volume})
    record(claim.volume, size)


def discard(client: docker.DockerClient, claim: Claim) -> None:
    """Remove a claimed volume that was not completed (pip refused the set, or the run
    stopped), once no container uses it; a complete one stays."""
    try:
        if not exists(client, flag_name(claim.volume)):
            remove(client, claim.volume)
    except (docker.errors.DockerException, OSError) as exc:
        logger.info("the unfinished environment %s stays: %s", claim.volume, exc)


def remove(client: docker.DockerClient, volume: str) -> str:
    """Remove an environment's volume, then its flag and its record, as a mirror's are
    removed; '' when gone, else the engine's reason (a container uses it, and all stay)."""
    problem = mirrors.remove(client, volume)
    if not problem:
        _record(volume).unlink(missing_ok=True)
    return problem


def stored(client: docker.DockerClient) -> list[Stored]:
    """Every environment volume on the engine."""
    flags = {
        str((v.attrs.get("Labels") or {}).get(LABEL_DONE, ""))
        for v in client.volumes.list(filters={"label": LABEL_DONE})
    }
    found = []
    for volume in client.volumes.list(filters={"label": LABEL_KEY}):
        name = str(volume.name)
        labels = volume.attrs.get("Labels") or {}
        size, used = recorded(name)
        found.append(
            Stored(
                volume=name,
                image_id=str(labels.get(LABEL_IMAGE, "")),
                wheels=str(labels.get(LABEL_WHEELS, "")),
                complete=name in flags,
                size=size,
                last_used=used if used is not None else _created(volume.attrs),
            )
        )
    return found


def evict(client: docker.DockerClient, limit: int, keep: str) -> list[str]:
    """Remove the least recently used complete environments, not `keep`, until those
    recorded here hold at most `limit` bytes; the volumes removed (one in use stays)."""
    removed = []
    for environment in beyond(stored(client), limit, keep):
        if not remove(client, environment.volume):
            logger.info("removed the environment %s, least recently used", environment.volume)
            removed.append(environment.volume)
    return removed


def beyond(held: Sequence[Stored], limit: int, keep: str) -> list[Stored]:
    """The complete environments to remove, least recently used first and never `keep`, for
    the rest to hold at most `limit` bytes."""
    complete = sorted((s for s in held if s.complete), key=lambda s: s.last_used)
    total = sum(s.size for s in complete)
    chosen = []
    for environment in complete:
        if total <= limit:
            break
        if environment.volume != keep:
            chosen.append(environment)
            total -= environment.size
    return chosen


def _record(volume: str) -> Path:
    return paths.cache_dir() / USES / volume


def record(volume: str, size: int | None = None) -> None:
    """Note that the volume is being used now, and its size when given (best effort: a
    read-only cache only loses it)."""
    path = _record(volume)
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        if size is not None:
            path.write_text(f"{size}\n")
        path.touch()
        os.utime(path)


def recorded(volume: str) -> tuple[int, float | None]:
    """(size in bytes, epoch seconds of the last use) recorded here; (0, None) when none."""
    path = _record(volume)
    try:
        used = path.stat().st_mtime
        text = path.read_text().strip()
    except OSError:
        return 0, None
    return (int(text) if text.isdigit() else 0), used


def _created(attrs: dict[str, object]) -> float:
    return timestamp(attrs.get("CreatedAt")) or 0.0
