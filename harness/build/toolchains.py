"""Toolchains and link modes: loaded from `resources/toolchains.toml`, checked, combined."""

from __future__ import annotations

import functools
import importlib.util
import platform
import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Final, Self

from harness import paths
from harness.errors import InputError, ToolchainUnavailable
from harness.scenario.tomlload import Checker, read_toml

NATIVE: Final = "native"
HOST: Final = "host"
DEBIAN_PREFIX: Final = "debian:"


class Runtime(StrEnum):
    LIBSTDCXX = "libstdc++"
    LIBCXX = "libc++"


@dataclass(frozen=True, kw_only=True)
class Toolchain:
    name: str
    description: str
    cxx: str
    runtime: Runtime
    cxxflags: tuple[str, ...] = ()
    ldflags: tuple[str, ...] = ()
    packages: tuple[str, ...] = ()
    build_in: str = NATIVE

    @classmethod
    def from_toml(cls, name: str, row: dict[str, Any], check: Checker) -> Self:
        key = f"toolchains.{name}"
        check.unknown_keys(
            row,
            {"description", "cxx", "runtime", "cxxflags", "ldflags", "packages", "build_in"},
            key,
        )
        build_in = check.string(row, "build_in", f"{key}.build_in", NATIVE)
        if build_in not in (NATIVE, HOST) and not build_in.startswith(DEBIAN_PREFIX):
            check.add(f"{key}.build_in", f'must be "{NATIVE}", "{HOST}" or "debian:<suite>"')
        runtime = check.string(row, "runtime", f"{key}.runtime")
        if runtime and runtime not in set(Runtime):
            check.add(f"{key}.runtime", f"must be one of {', '.join(Runtime)}")
            runtime = Runtime.LIBSTDCXX
        return cls(
            name=name,
            description=check.string(row, "description", f"{key}.description", ""),
            cxx=check.string(row, "cxx", f"{key}.cxx"),
            runtime=Runtime(runtime or Runtime.LIBSTDCXX),
            cxxflags=check.strings(row, "cxxflags", f"{key}.cxxflags"),
            ldflags=check.strings(row, "ldflags", f"{key}.ldflags"),
            packages=check.strings(row, "packages", f"{key}.packages"),
            build_in=build_in,
        )

    @property
    def suite(self) -> str | None:
        """The Debian suite whose builder image builds this toolchain's wheels, if fixed."""
        return (
            self.build_in.removeprefix(DEBIAN_PREFIX)
            if self.build_in.startswith(DEBIAN_PREFIX)
            else None
        )

    def command(self, *, python: str, arch: str) -> str:
        """The compiler command line, with {python} and {arch} filled in."""
        return self.cxx.format(python=python, arch=arch)

    def host_command(self) -> str:
        return self.command(python=sys.executable, arch=platform.machine())

    def available(self) -> bool:
        """Whether this machine can run the compiler (for toolchains built here)."""
        words = shlex.split(self.host_command())
        if words[:2] == [sys.executable, "-m"] and len(words) > 2:
            return importlib.util.find_spec(words[2]) is not None
        return shutil.which(words[0]) is not None

    def require(self) -> None:
        """Raise a runbook error unless this machine has the compiler."""
        if not self.available():
            how = f"`apt-get install {' '.join(self.packages)}`" if self.packages else "./bootstrap"
            raise ToolchainUnavailable(
                f"toolchain {self.name!r} needs {self.cxx!r}, which is not on PATH.",
                hint=f"install it, e.g. {how}, or pick another toolchain "
                "(`wheelclash toolchains` lists them).",
            )

    def version(self) -> str:
        """The compiler's own version line on this machine, or '' when it cannot run here."""
        return _compiler_version(self.host_command()) if self.available() else ""


@dataclass(frozen=True, kw_only=True)
class LinkMode:
    name: str
    description: str
    cxxflags: tuple[str, ...] = ()
    ldflags: tuple[str, ...] = ()
    archive_members: tuple[str, ...] = ()
    runtimes: tuple[Runtime, ...] = (Runtime.LIBSTDCXX, Runtime.LIBCXX)

    @classmethod
    def from_toml(cls, name: str, row: dict[str, Any], check: Checker) -> Self:
        key = f"link_modes.{name}"
        check.unknown_keys(
            row, {"description", "cxxflags", "ldflags", "archive_members", "runtimes"}, key
        )
        runtimes = check.strings(row, "runtimes", f"{key}.runtimes", tuple(Runtime))
        for runtime in runtimes:
            if runtime not in set(Runtime):
                check.add(f"{key}.runtimes", f"{runtime!r} is not one of {', '.join(Runtime)}")
        members = check.strings(row, "archive_members", f"{key}.archive_members")
        for member in members:
            if member.count(":") != 1:
                check.add(f"{key}.archive_members", f"{member!r} must be ARCHIVE:MEMBER")
        return cls(
            name=name,
            description=check.string(row, "description", f"{key}.description", ""),
            cxxflags=check.strings(row, "cxxflags", f"{key}.cxxflags"),
            ldflags=check.strings(row, "ldflags", f"{key}.ldflags"),
            archive_members=members,
            runtimes=tuple(Runtime(r) for r in runtimes if r in set(Runtime)),
        )


@dataclass(frozen=True, kw_only=True)
class Catalogue:
    toolchains: Mapping[str, Toolchain]
    link_modes: Mapping[str, LinkMode]

    def toolchain(self, name: str) -> Toolchain:
        try:
            return self.toolchains[name]
        except KeyError as exc:
            raise InputError(
                f"unknown toolchain {name!r}; valid: {', '.join(sorted(self.toolchains))}"
            ) from exc

    def check_combination(self, toolchain: Toolchain, links: Sequence[str]) -> str | None:
        """Why these link modes cannot go with this toolchain, or None when they can."""
        for name in links:
            mode = self.link_modes.get(name)
            if mode is None:
                return f"unknown link mode {name!r}; valid: {', '.join(sorted(self.link_modes))}"
            if toolchain.runtime not in mode.runtimes:
                return (
                    f"link mode {name!r} needs {' or '.join(mode.runtimes)}, but toolchain "
                    f"{toolchain.name!r} links {toolchain.runtime}"
                )
        return None


def load_catalogue(path: Path | None = None) -> Catalogue:
    """The toolchain table (see `paths.toolchains_file`), validated; cached per file."""
    return _load_catalogue(path or paths.toolchains_file())


@functools.cache
def _load_catalogue(path: Path) -> Catalogue:
    document = read_toml(path)
    check = Checker(path)
    check.unknown_keys(document, {"toolchains", "link_modes"}, "")
    toolchains = {
        name: Toolchain.from_toml(name, row, check)
        for name, row in check.table(document, "toolchains", "toolchains").items()
        if isinstance(row, dict)
    }
    modes = {
        name: LinkMode.from_toml(name, row, check)
        for name, row in check.table(document, "link_modes", "link_modes").items()
        if isinstance(row, dict)
    }
    check.raise_if_any()
    return Catalogue(toolchains=toolchains, link_modes=modes)


@functools.cache
def _compiler_version(command: str) -> str:
    done = subprocess.run(
        [*shlex.split(command), "--version"], capture_output=True, text=True, check=False
    )
    return done.stdout.splitlines()[0].strip() if done.stdout else ""
