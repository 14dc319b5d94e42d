"""Confined containers through docker-py: start, ship files in, run commands, always remove."""

from __future__ import annotations

import logging
import os
import re
import shutil
import socket
import tarfile
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

import docker
import docker.errors
import psutil
from docker.models.containers import Container
from docker.types import DriverConfig, Mount

from harness.errors import InfrastructureError

logger = logging.getLogger(__name__)

# Every container wheelclash starts carries this label, valued `owner()`, so that a later run
# on this host can remove what a killed one left behind.
LABEL_OWNER: Final = "org.wheelclash.owner"
# A memory limit as `docker run --memory` takes it: a whole number and a unit.
FETCH_CHUNK: Final = 1 << 20  # a file copied out of a container moves in pieces this size
MEMORY_RE: Final = re.compile(r"^(\d+)([bkmg]?)$", re.IGNORECASE)


@dataclass(frozen=True, kw_only=True)
class Scratch:
    """A writable folder of fixed size, in memory (a tmpfs, charged to the memory limit)."""

    path: str
    size: str  # as the engine takes it: "256m", "1g"
    owner: str = ""  # "uid:gid", the folder's only user; "" for a sticky, world-writable one
    # Reached by put_archive and get_archive: those see the container's own layers and its
    # volumes, never a tmpfs mount, so this one is an anonymous volume backed by a tmpfs.
    archived: bool = False

    def options(self) -> str:
        if self.owner:
            uid, gid = self.owner.split(":")
            return f"size={self.size},uid={uid},gid={gid},mode=0700"
        return f"size={self.size},mode=1777"


@dataclass(frozen=True, kw_only=True)
class Bind:
    """A file or folder of this machine, seen read-only at `target` in the container: only
    for an engine on this machine, whose daemon reads `source` from this filesystem."""

    source: Path
    target: str


@dataclass(frozen=True, kw_only=True)
class Confinement:
    """How untrusted code is held: a non-root user, no network, memory and pid limits, and,
    with `read_only`, no writable place but fixed-size scratch folders and the volumes."""

    user: str
    memory: str
    pids: int
    home: str
    scratch: tuple[Scratch, ...] = ()
    read_only: bool = False  # the root filesystem
    # Anonymous volumes on the engine's disk, removed with the container: the harness's own
    # files; untrusted code must not own anything in them.
    volumes: tuple[str, ...] = ()
    binds: tuple[Bind, ...] = ()  # always read-only: the wheels on a local engine
    # Named volumes, read-only, as (where, volume): an image's own folders copied to the
    # engine's disk (harness/images/mirrors.py); they outlive the container.
    mirrors: tuple[tuple[str, str], ...] = ()
    # Named volumes as (where, volume, read-only) that hold what the harness keeps between
    # runs: an installed environment (cells/backends/environments.py).
    kept: tuple[tuple[str, str, bool], ...] = ()
    capabilities: tuple[str, ...] = ()  # given back after all are dropped
    # The user of the container's own processes (its init and `sleep`); "" for `user`. Root,
    # where an exec as root needs `capabilities`: the engine grants an exec the added
    # capabilities only in a container whose own user is root.
    init_user: str = ""
    # What the container itself runs, under its init: it must keep running (the harness
    # execs into it); what it writes is the container's log.
    command: tuple[str, ...] = ("sleep", "infinity")

    def shared_by(self, batches: int) -> Confinement:
        """These limits for a container running `batches` supervisor batches at once: the
        memory and pid limits and the scratch sizes times `batches`, so that each batch keeps
        the room one has alone (a core dumped into the cells' folder, say)."""
        if batches <= 1:
            return self
        scratch = tuple(replace(s, size=_times(s.size, batches)) for s in self.scratch)
        memory = _times(self.memory, batches)
        return replace(self, memory=memory, pids=self.pids * batches, scratch=scratch)


def mounts(
    confinement: Confinement, labels: Mapping[str, str]
) -> tuple[dict[str, str], list[Mount]]:
    """The tmpfs mounts, and the volumes (labelled like their container) and read-only binds
    of a confined container."""
    tmpfs = {
        s.path: s.options() + ",exec"  # as /tmp and HOME are on a usual system
        for s in confinement.scratch
        if not s.archived
    }
    volumes = [
        Mount(
            s.path,
            None,
            type="volume",
            labels=dict(labels),
            driver_config=DriverConfig(
                "local", {"type": "tmpfs", "device": "tmpfs", "o": s.options()}
            ),
        )
        for s in confinement.scratch
        if s.archived
    ]
    volumes += [
        Mount(path, None, type="volume", labels=dict(labels)) for path in confinement.volumes
    ]
    volumes += [
        Mount(b.target, str(b.source), type="bind", read_only=True) for b in confinement.binds
    ]
    volumes += [
        Mount(where, volume, type="volume", read_only=True) for where, volume in confinement.mirrors
    ]
    volumes += [
        Mount(where, volume, type="volume", read_only=read_only)
        for where, volume, read_only in confinement.kept
    ]
    return tmpfs, volumes


def _times(size: str, factor: int, prefix: str = "") -> str:
    """A size (after `prefix`: a mount option) times `factor`; anything else as it is."""
    match = MEMORY_RE.match(size.removeprefix(prefix)) if size.startswith(prefix) else None
    return f"{prefix}{int(match[1]) * factor}{match[2]}" if match else size


def owner() -> str:
    """`host:pid` of this process: who a container belongs to (see DockerBackend's janitor)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def owner_gone(label: str) -> bool:
    """Whether an `owner()` label names a process of this host that no longer runs."""
    host, _, pid = label.rpartition(":")
    return host == socket.gethostname() and pid.isdigit() and not psutil.pid_exists(int(pid))


def fetch_file(container: Container, path: str, destination: Path) -> None:
    """Copy one file out of a container to `destination`, through a temporary spool file
    and in bounded chunks: a built wheel can be hundreds of MB."""
    stream, _ = container.get_archive(path)
    with tempfile.TemporaryFile(prefix="wheelclash-fetch-") as spool:
        for chunk in stream:
            spool.write(chunk)
        spool.seek(0)
        with tarfile.open(fileobj=spool) as archive:
            member = archive.next()
            extracted = archive.extractfile(member) if member is not None else None
            if extracted is None:
                raise InfrastructureError(f"{path} in container {container.short_id} is not a file")
            with destination.open("wb") as out:
                shutil.copyfileobj(extracted, out, FETCH_CHUNK)


def exec_text(
    container: Container,
    command: Sequence[str],
    *,
    user: str,
    workdir: str,
    environment: Mapping[str, str] | None = None,
) -> tuple[int, str]:
    """Run a command to completion in the container; its exit code and combined output."""
    logger.info("+ docker exec %s %s", container.short_id, " ".join(command))
    try:
        code, output = container.exec_run(
            list(command), user=user, workdir=workdir, environment=dict(environment or {})
        )
    except (docker.errors.DockerException, OSError) as exc:  # requests' errors are OSErrors
        raise InfrastructureError(f"the engine failed to run {command[0]}: {exc}") from exc
    text = output.decode("utf-8", "replace") if isinstance(output, bytes) else ""
    return int(code if code is not None else -1), text


@contextmanager
def exec_socket(api: docker.APIClient, exec_id: str) -> Iterator[Any]:
    """The raw, multiplexed stream of a started exec (read it with docker-py's
    `frames_iter`), closed for real on the way out, also when the reader stops early.

    For an engine on a unix socket (or plain tcp), docker-py hands back the HTTP response's
    `socket.SocketIO`. Closing a SocketIO only drops its hold on the socket: the socket and
    its descriptor stay open until the garbage collector breaks the cycle docker-py makes
    between the SocketIO and the response. Neither docker-py nor the standard library gives
    a public way from a SocketIO to its socket, so SocketIO's private `_sock` is read here,
    and nowhere else; tests/integration/test_exec_socket.py fails if it stops closing the
    descriptor. Other engines' streams (TLS sockets, ssh channels) are closed as they are.
    """
    stream = api.exec_start(exec_id, socket=True)
    try:
        yield stream
    finally:
        inner = getattr(stream, "_sock", None) if isinstance(stream, socket.SocketIO) else None
        stream.close()
        if isinstance(inner, socket.socket):
            inner.close()


def shut_down(stream: Any) -> None:
    """End an exec's stream (from `exec_socket`) both ways at once, also while another
    thread is blocked reading it: closing a socket alone does neither (the blocked read
    holds it open). The exec's stdin ends with it. Other engines' streams are closed."""
    inner = getattr(stream, "_sock", None) if isinstance(stream, socket.SocketIO) else None
    try:
        if isinstance(inner, socket.socket):
            inner.shutdown(socket.SHUT_RDWR)
        else:
            stream.close()
    except OSError:
        pass  # ended already


# docker-py's base URL for an engine on a unix socket; ssh and npipe engines have others.
UNIX_ENGINE: Final = "http+docker://localhost"


def pipes_stdin(api: docker.APIClient) -> bool:
    """Whether an exec's stdin can be written and closed through `exec_socket`'s stream:
    an engine on a unix socket (docker-py hands back a SocketIO over a plain socket)."""
    return str(api.base_url) == UNIX_ENGINE


def send_stdin(stream: Any, data: bytes) -> None:
    """Write `data` to a started exec's stdin (created with stdin=True), through the socket
    under `exec_socket`'s SocketIO. The stdin is left open: a proxy in front of the engine
    (tests/integration/engine_proxy.py is one) may end the whole stream when one side
    half-closes, so what is sent says where it ends itself (a line)."""
    inner = getattr(stream, "_sock", None) if isinstance(stream, socket.SocketIO) else None
    if not isinstance(inner, socket.socket):
        raise OSError(f"cannot write an exec's stdin through a {type(stream).__name__}")
    inner.sendall(data)


@contextmanager
def confined(
    client: docker.DockerClient,
    image_id: str,
    confinement: Confinement,
    labels: Mapping[str, str],
    keep: bool = False,
) -> Iterator[Container]:
    """A running container (its `confinement.command`, by default a sleep) to exec into;
    removed on the way out unless `keep`."""
    user = confinement.init_user or confinement.user
    logger.info(
        "+ docker run --network none --user %s --memory %s --pids-limit %d --cap-drop ALL%s%s%s %s",
        user,
        confinement.memory,
        confinement.pids,
        "".join(f" --cap-add {c}" for c in confinement.capabilities),
        " --read-only" if confinement.read_only else "",
        f" (+{len(confinement.binds)} read-only binds)" if confinement.binds else "",
        image_id[:19],
    )
    tmpfs, volumes = mounts(confinement, labels)
    try:
        # create, then start: `containers.run` leaves a created container behind when the
        # start fails (a bad mount, a missing init binary), which would leak it.
        container: Container = client.containers.create(
            image_id,
            command=list(confinement.command),
            network_mode="none",
            user=user,
            environment={"HOME": confinement.home, "LANG": "C.UTF-8"},
            mem_limit=confinement.memory,
            memswap_limit=confinement.memory,
            pids_limit=confinement.pids,
            cap_drop=["ALL"],
            cap_add=list(confinement.capabilities) or None,
            security_opt=["no-new-privileges"],
            init=True,
            read_only=confinement.read_only,
            tmpfs=tmpfs,
            mounts=volumes,
            labels=dict(labels),
            stop_signal="SIGKILL",
        )
    except (docker.errors.DockerException, OSError) as exc:
        raise InfrastructureError(
            f"could not create a container from {image_id[:19]}: {exc}"
        ) from exc
    try:
        container.start()
    except docker.errors.DockerException as exc:
        try:
            container.remove(force=True, v=True)
        except docker.errors.DockerException:
            pass
        raise InfrastructureError(
            f"could not start a container from {image_id[:19]}: {exc}"
        ) from exc
    try:
        yield container
    finally:
        if keep:
            logger.warning(
                "keeping container %s (WHEELCLASH_KEEP_CONTAINERS=1)", container.short_id
            )
        else:
            remove(container)


def remove(container: Container, attempts: int = 3) -> None:
    """Remove a container and its anonymous volumes; when the engine does not answer, say who
    will remove them later."""
    for attempt in range(attempts):
        try:
            container.remove(force=True, v=True)
            return
        except docker.errors.NotFound:
            return
        except (docker.errors.DockerException, OSError) as exc:  # requests' errors are OSErrors
            if attempt + 1 < attempts:
                time.sleep(1.0)
                continue
            logger.warning(
                "could not remove container %s: the engine did not answer (%s); it is labelled "
                "with this process, and the next run removes it once this process has ended",
                container.short_id,
                exc,
            )
