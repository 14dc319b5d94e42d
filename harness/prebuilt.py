"""Given wheels: .whl files and downloaded requirements, used as they are instead of built."""

from __future__ import annotations

import os
import platform
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Final

from harness.backends import Backend
from harness.errors import InputError
from harness.provenance import elf_comment
from harness.scenario import HOST_TARGET, Scenario, WheelSpec
from harness.wheelhouse import TargetPython, Wheelhouse, download, version_prefix
from harness.wheelinfo import read_contents
from harness.wheels import BuiltWheel, file_sha256

GIVEN: Final = "given"


def given_wheel(spec: WheelSpec, path: Path, wheelhouse: Path | None = None) -> BuiltWheel:
    """A given wheel file as the runner and the backends take it; its hash is provenance."""
    sha = file_sha256(path)
    return BuiltWheel(
        wheel_id=spec.id,
        module=",".join(spec.imports or read_contents(path).imports()),
        fixture=spec.requirement or path.name,
        toolchain=GIVEN,
        link="",
        path=path,
        sha256=sha,
        compiler="",
        elf_comment=elf_comment(path),
        builder=GIVEN,
        builder_id="",
        audit="",
        cache_key=sha[:32],
        wheelhouse=str(wheelhouse) if wheelhouse else "",
    )


def target_python(backend: Backend, target: str, arch: str) -> TargetPython:
    """The Python and glibc of a target, for choosing the wheels pip downloads for it."""
    if backend.name == "local" or target == HOST_TARGET:
        return TargetPython(
            version=version_prefix(platform.python_version()),
            glibc=(os.confstr("CS_GNU_LIBC_VERSION") or "glibc 2.17").split()[-1],
            arch=platform.machine(),
        )
    from harness import images
    from harness.backends.docker import DockerBackend

    assert isinstance(backend, DockerBackend)
    info = images.resolve_target(backend.client, target, arch)
    if not info.python or not info.glibc:
        raise InputError(
            f"target {target}: its image does not say its Python and glibc versions, so the "
            "wheels to download for it are unknown; use a debian:<suite> target, or pass "
            ".whl files (with their dependencies) instead of requirements"
        )
    return TargetPython(
        version=version_prefix(info.python), glibc=version_prefix(info.glibc), arch=arch
    )


def given_wheels(
    specs: Sequence[WheelSpec], backend: Backend, target: str, arch: str
) -> dict[str, BuiltWheel]:
    """The given wheels of a set, by wheel id; requirements come from one wheelhouse per
    target (downloaded once, then cached), local files are used as they are."""
    requirements = [s.requirement for s in specs if s.requirement]
    house: Wheelhouse | None = None
    if requirements:
        house = download(requirements, target_python(backend, target, arch))
    out: dict[str, BuiltWheel] = {}
    for spec in specs:
        if spec.requirement:
            assert house is not None
            out[spec.id] = given_wheel(spec, house.wheel_for(spec.requirement), house.path)
        elif spec.wheel is not None:
            out[spec.id] = given_wheel(spec, spec.wheel, house.path if house else None)
    return out


def with_modules(scenario: Scenario, wheels: Sequence[BuiltWheel]) -> Scenario:
    """The scenario with each requirement's modules filled in from its downloaded wheel."""
    by_id = {w.wheel_id: w for w in wheels}
    specs = []
    for spec in scenario.wheels:
        if spec.imports or spec.id not in by_id:
            specs.append(spec)
            continue
        found = read_contents(by_id[spec.id].path).imports()
        if not found:
            raise InputError(
                f"{scenario.path}: {spec.id}: {by_id[spec.id].path.name} holds no extension "
                "module; name what to import with `modules`"
            )
        specs.append(replace(spec, module=found[0], modules=found))
    return replace(scenario, wheels=tuple(specs))
