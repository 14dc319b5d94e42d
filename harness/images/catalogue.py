"""The image table (images.toml): suites, arches, roles and how to bootstrap, validated."""

from __future__ import annotations

import functools
import platform
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Self

from harness import paths
from harness.scenario.tomlload import Checker, read_toml

IMAGES_TOML: Final = paths.RESOURCES / "images.toml"
DEBIAN_NAME: Final = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")
_TAG_WORD: Final = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")  # suite and role names go into tags
_HOST_ARCH_ALIASES: Final = {"amd64": "x86_64", "arm64": "aarch64", "i386": "i686", "i586": "i686"}

# ---------------------------------------------------------------------------------------------
# The table: resources/images.toml


@dataclass(frozen=True, kw_only=True)
class Platform:
    name: str
    oci: str
    qemu: str
    native_on: tuple[str, ...] = ()  # host arches that run this arch without emulation
    emulated_timeout_scale: float = 1.0  # cell timeouts are multiplied by this under qemu

    @classmethod
    def from_toml(cls, name: str, row: dict[str, Any], check: Checker) -> Self:
        key = f"platforms.{name}"
        check.unknown_keys(row, {"oci", "qemu", "native_on", "emulated_timeout_scale"}, key)
        scale = check.number(row, "emulated_timeout_scale", f"{key}.emulated_timeout_scale", 1.0)
        if scale < 1.0:
            check.add(f"{key}.emulated_timeout_scale", "must be 1 or more (a slowdown factor)")
        return cls(
            name=name,
            oci=check.string(row, "oci", f"{key}.oci"),
            qemu=check.string(row, "qemu", f"{key}.qemu"),
            native_on=check.strings(row, "native_on", f"{key}.native_on"),
            emulated_timeout_scale=scale,
        )


@dataclass(frozen=True, kw_only=True)
class Suite:
    name: str
    mirror_suite: str
    arches: Mapping[str, str]  # wheelclash arch -> Debian arch

    @classmethod
    def from_toml(
        cls, name: str, row: dict[str, Any], check: Checker, platforms: Mapping[str, Platform]
    ) -> Self:
        key = f"suites.{name}"
        check.unknown_keys(row, {"mirror_suite", "arches"}, key)
        if not _TAG_WORD.match(name):
            check.add(key, "a suite name must be lowercase letters, digits, '.', '_', '-'")
        arches = {}
        for arch, debian_arch in check.table(row, "arches", f"{key}.arches").items():
            if arch not in platforms:
                check.add(f"{key}.arches.{arch}", f"not in [platforms]: {', '.join(platforms)}")
            elif not isinstance(debian_arch, str):
                check.add(f"{key}.arches.{arch}", "must be a Debian arch name (a string)")
            else:
                arches[arch] = debian_arch
        mirror_suite = check.string(row, "mirror_suite", f"{key}.mirror_suite", name)
        return cls(name=name, mirror_suite=mirror_suite, arches=arches)


@dataclass(frozen=True, kw_only=True)
class Role:
    name: str
    packages: tuple[str, ...]
    extends: str | None = None

    @classmethod
    def from_toml(cls, name: str, row: dict[str, Any], check: Checker) -> Self:
        key = f"roles.{name}"
        check.unknown_keys(row, {"packages", "extends"}, key)
        if not _TAG_WORD.match(name):
            check.add(key, "a role name must be lowercase letters, digits, '.', '_', '-'")
        extends = row.get("extends")
        if extends is not None and not isinstance(extends, str):
            check.add(f"{key}.extends", "must be a role name")
            extends = None
        packages = check.strings(row, "packages", f"{key}.packages")
        for package in packages:
            if not DEBIAN_NAME.match(package):
                check.add(f"{key}.packages", f"{package!r} is not a Debian package name")
        return cls(name=name, packages=packages, extends=extends)


@dataclass(frozen=True, kw_only=True)
class Bootstrap:
    mirror: str
    components: tuple[str, ...]
    variant: str
    dpkg_options: tuple[str, ...]

    @classmethod
    def from_toml(cls, row: dict[str, Any], check: Checker) -> Self:
        check.unknown_keys(row, {"mirror", "components", "variant", "dpkg_options"}, "bootstrap")
        return cls(
            mirror=check.string(row, "mirror", "bootstrap.mirror"),
            components=check.strings(row, "components", "bootstrap.components", ("main",)),
            variant=check.string(row, "variant", "bootstrap.variant", "apt"),
            dpkg_options=check.strings(row, "dpkg_options", "bootstrap.dpkg_options"),
        )


@dataclass(frozen=True, kw_only=True)
class ImageCatalogue:
    bootstrap: Bootstrap
    platforms: Mapping[str, Platform]
    suites: Mapping[str, Suite]
    roles: Mapping[str, Role]

    def packages(self, role: str) -> tuple[str, ...]:
        """The role's packages after `extends`, base role first."""
        chain: list[Role] = []
        name: str | None = role
        while name is not None:
            chain.insert(0, self.roles[name])
            name = self.roles[name].extends
        return tuple(p for r in chain for p in r.packages)

    @classmethod
    def from_toml(cls, document: dict[str, Any], check: Checker) -> Self:
        check.unknown_keys(document, {"bootstrap", "platforms", "suites", "roles"}, "")
        bootstrap = Bootstrap.from_toml(check.table(document, "bootstrap", "bootstrap"), check)
        platforms = {
            n: Platform.from_toml(n, r, check) for n, r in _rows(check, document, "platforms")
        }
        suites = {
            n: Suite.from_toml(n, r, check, platforms) for n, r in _rows(check, document, "suites")
        }
        roles = {n: Role.from_toml(n, r, check) for n, r in _rows(check, document, "roles")}
        for role in roles.values():
            seen = {role.name}
            parent = role.extends
            while parent is not None:
                if parent not in roles or parent in seen:
                    why = "a loop" if parent in seen else f"unknown role {parent!r}"
                    check.add(f"roles.{role.name}.extends", f"{why}; valid: {', '.join(roles)}")
                    break
                seen.add(parent)
                parent = roles[parent].extends
        return cls(bootstrap=bootstrap, platforms=platforms, suites=suites, roles=roles)


def _rows(
    check: Checker, document: dict[str, Any], name: str
) -> Iterator[tuple[str, dict[str, Any]]]:
    for key, row in check.table(document, name, name).items():
        if isinstance(row, dict):
            yield key, row
        else:
            check.add(f"{name}.{key}", "must be a table")


@functools.cache
def load_catalogue(path: Path = IMAGES_TOML) -> ImageCatalogue:
    check = Checker(path)
    catalogue = ImageCatalogue.from_toml(read_toml(path), check)
    check.raise_if_any()
    return catalogue


def host_arch() -> str:
    machine = platform.machine()
    return _HOST_ARCH_ALIASES.get(machine, machine)


def is_emulated(arch: str, on: str | None = None) -> bool:
    """Whether `arch` binaries need qemu-user on a machine of arch `on` (default: this host);
    i686 runs natively on x86_64."""
    host = on or host_arch()
    plat = load_catalogue().platforms.get(arch)
    return arch != host and (plat is None or host not in plat.native_on)


def timeout_scale(arch: str, emulated: bool) -> float:
    """The factor for cell timeouts of `arch`: its `emulated_timeout_scale` under qemu, else 1."""
    plat = load_catalogue().platforms.get(arch)
    return plat.emulated_timeout_scale if emulated and plat is not None else 1.0
