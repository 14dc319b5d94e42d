"""`wheelclash doctor`, the build side: the compilers of the toolchains that build on this
machine (g++, clang++, zig from PyPI) and their versions, free disk for the wheel cache, and
whether pip's package index answers (it serves `check --download` and runtime_requires)."""

from __future__ import annotations

import importlib.metadata
import shlex
import subprocess
import sys

from harness import paths
from harness.build.toolchains import Toolchain, load_catalogue
from harness.common.health import Check, Status
from harness.images.doctor_checks import DoctorTable, free_space


def toolchain_check(toolchain: Toolchain) -> Check:
    """One toolchain that builds here: its compiler's version line, or how to install it."""
    name = f"toolchain:{toolchain.name}"
    version = toolchain.version()
    words = shlex.split(toolchain.host_command())
    module = words[2] if words[:2] == [sys.executable, "-m"] and len(words) > 2 else ""
    if version:
        if module:  # a compiler shipped as a Python package (ziglang): its version too
            try:
                version = f"{module} {importlib.metadata.version(module)}, {version}"
            except importlib.metadata.PackageNotFoundError:
                pass
        return Check(name=name, status=Status.OK, detail=f"{version} ({toolchain.runtime})")
    if module:
        how = f"{sys.executable} -m pip install {module} (a wheelclash dependency)"
    elif toolchain.packages:
        how = f"apt-get install {' '.join(toolchain.packages)}"
    else:
        how = "./bootstrap"
    return Check(
        name=name,
        status=Status.WARN,
        detail=f"{module or words[0]} is missing: scenarios using "
        f"{toolchain.name} stop with an error on this machine (the docker backend builds the "
        "native toolchains in builder images instead)",
        fix=how,
    )


def toolchain_checks() -> list[Check]:
    """The toolchains built on this machine (not those of a Debian builder image)."""
    return [toolchain_check(t) for t in load_catalogue().toolchains.values() if t.suite is None]


def index_check(table: DoctorTable) -> Check:
    """Whether pip's own index (pip.conf, PIP_INDEX_URL) answers, asked by pip itself."""
    timeout = f"{table.network_timeout_s:g}"
    command = [
        sys.executable,
        "-m",
        "pip",
        "index",
        "versions",
        "pip",
        "--timeout",
        timeout,
        "--retries",
        "0",
        "--disable-pip-version-check",
    ]
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            check=False,
            timeout=4 * table.network_timeout_s + 30,
        )
    except subprocess.TimeoutExpired:
        said = f"pip did not finish within {4 * table.network_timeout_s + 30:g} s"
    else:
        if done.returncode == 0:
            latest = (done.stdout.strip().splitlines() or ["pip"])[0]
            return Check(
                name="index:pypi", status=Status.OK, detail=f"pip's index answered: {latest}"
            )
        said = (done.stderr.strip() or done.stdout.strip() or "no output").splitlines()[-1]
    return Check(
        name="index:pypi",
        status=Status.WARN,
        detail=f"pip's package index did not answer ({said}): `check --download` and fixtures "
        "with runtime_requires cannot fetch wheels (cached wheelhouses and .whl files still work)",
        fix="check the network or set https_proxy, or point pip at a reachable index "
        "(PIP_INDEX_URL, or index-url in pip.conf)",
    )


def cache_disk_check(table: DoctorTable) -> Check:
    return free_space(
        "disk:cache", paths.cache_dir(), table, "wheelclash's wheels, wheelhouses and venvs"
    )


def checks(table: DoctorTable) -> list[Check]:
    """Every build-side check, in the order the doctor prints them."""
    return [*toolchain_checks(), cache_disk_check(table), index_check(table)]
