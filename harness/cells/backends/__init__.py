"""Where cells run. A backend opens a session per (target, arch, wheel set) and runs batches
in it, several at once when asked (`-j`)."""

from __future__ import annotations

import os
import platform
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Final, Protocol

from harness.build.builders import Builder
from harness.build.wheelhouse import TargetPython, version_prefix
from harness.build.wheels import BuiltWheel
from harness.cells.jobs import CellJob
from harness.cells.outcome import Outcome
from harness.common.stopping import Stopped, never
from harness.errors import InputError
from harness.scenario.load import HOST_TARGET


@dataclass(frozen=True, kw_only=True)
class TargetFacts:
    """Provenance of the place cells ran: recorded in every result."""

    target: str
    arch: str
    python: str
    glibc: str
    libstdcxx: str
    image_id: str = ""
    image_digest: str = ""
    emulated: bool = False  # the cells ran under qemu-user
    engine: str = ""  # the Docker engine's URL ("default": DOCKER_HOST or the local socket)
    # The volume holding the image's root filesystem that the probes ran chrooted in (a slow
    # storage driver's: images/rootcopy.py), or "" when they ran on the container's own root.
    root_copy: str = ""


class Session(Protocol):
    """One prepared environment (a venv, a container) with the wheel set installed."""

    @property
    def facts(self) -> TargetFacts: ...

    @property
    def not_installable(self) -> str:
        """Why the wheel set cannot be installed here (pip's or the tags' reason), or ''."""
        ...

    def run(self, jobs: Sequence[CellJob], stopped: Stopped = never) -> Iterator[Outcome]:
        """Run the jobs as one batch, one fresh interpreter each, yielding outcomes as they
        finish. Several batches may run at once, each from its own thread; each has its own
        working folder. Once `stopped` is true the batch is abandoned: its cells left get
        `infra-error` outcomes, and closing the iterator stops its processes (only its own)."""
        ...


class Backend(Protocol):
    name: str

    def unavailable_reason(self) -> str | None:
        """Why this backend cannot run here (a runbook sentence), or None when it can."""
        ...

    def describe(self) -> Mapping[str, str]:
        """Backend-wide provenance, e.g. the engine version."""
        ...

    def builder(self, target: str, arch: str) -> Builder:
        """Where the wheels for cells on this target are built."""
        ...

    def open(
        self, target: str, arch: str, wheels: Sequence[BuiltWheel], batches: int = 1
    ) -> AbstractContextManager[Session]:
        """The session for a wheel set on a target, made to run `batches` batches at once
        (a container's limits are sized for that many)."""
        ...


def _local(engines: Mapping[str, str]) -> Backend:
    from harness.cells.backends.local import LocalBackend

    return LocalBackend()


def _docker(engines: Mapping[str, str]) -> Backend:
    """`engines` maps an arch to its own engine (URL or docker context); see
    harness/images/engines.py."""
    from harness.cells.backends.docker import DockerBackend

    return DockerBackend(engines=engines)


BACKENDS: Final[Mapping[str, Callable[[Mapping[str, str]], Backend]]] = {
    "local": _local,
    "docker": _docker,
}


def target_python(backend: Backend, target: str, arch: str) -> TargetPython:
    """The Python and glibc of a target, for choosing the wheels pip downloads for it."""
    if backend.name == "local" or target == HOST_TARGET:
        return TargetPython(
            version=version_prefix(platform.python_version()),
            glibc=(os.confstr("CS_GNU_LIBC_VERSION") or "glibc 2.17").split()[-1],
            arch=platform.machine(),
        )
    from harness.cells.backends.docker import DockerBackend

    assert isinstance(backend, DockerBackend)
    info = backend.target_image(target, arch)
    if not info.python or not info.glibc:
        raise InputError(
            f"target {target}: its image does not say its Python and glibc versions, so the "
            "wheels to download for it are unknown; use a debian:<suite> target, or pass "
            ".whl files (with their dependencies) instead of requirements"
        )
    return TargetPython(
        version=version_prefix(info.python), glibc=version_prefix(info.glibc), arch=arch
    )
