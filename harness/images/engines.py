"""Which Docker engine runs each arch: the default one, or a native engine named per arch.

Users who own an arm64 (or s390x, ...) machine map that arch to its engine, so its cells run
natively instead of under qemu-user: `[tool.wheelclash] engines = { aarch64 = "ssh://me@arm" }`
in pyproject.toml, or `--engine aarch64=ssh://me@arm` on the command line. A value is a
DOCKER_HOST-style URL (unix://, tcp://, ssh://, http(s)://) or the name of a docker context.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import docker
import docker.context
import docker.errors

from harness.errors import InfrastructureError, InputError

DEFAULT: Final = "default"  # how provenance names the engine of DOCKER_HOST / the socket


def endpoint(spec: str) -> str:
    """The engine URL of `spec`: itself when it is a URL, else the docker context's host."""
    if "://" in spec:
        return spec
    try:
        context = docker.context.ContextAPI.get_context(spec)
    except docker.errors.DockerException as exc:
        raise InputError(f"docker context {spec!r} could not be read: {exc}") from exc
    if context is None or not context.Host:
        raise InputError(
            f"no docker context named {spec!r} (see `docker context ls`)",
            hint=f"create it with `docker context create {spec} --docker host=ssh://user@host` "
            "or give a URL.",
        )
    return str(context.Host)


def connect(spec: str, timeout: int = 120) -> docker.DockerClient:
    """A client of the engine at `spec` (URL or context name); ssh uses the `ssh` program."""
    url = endpoint(spec)
    try:
        client = docker.DockerClient(
            base_url=url, timeout=timeout, use_ssh_client=url.startswith("ssh://")
        )
        client.ping()
    except docker.errors.DockerException as exc:
        raise InfrastructureError(
            f"the Docker engine {spec!r} ({url}) does not answer.",
            context=str(exc),
            hint="check that it runs and that this machine may reach it (for ssh://, "
            "`ssh HOST docker version` must work without a password prompt).",
        ) from exc
    return client


def engine_arch(client: docker.DockerClient, oci_to_arch: Mapping[str, str]) -> str:
    """The engine's machine arch in wheelclash's spelling (its version reports Go's, amd64)."""
    reported = str(client.version().get("Arch", ""))
    return oci_to_arch.get(reported, reported)
