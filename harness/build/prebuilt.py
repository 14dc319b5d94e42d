"""Given wheels: .whl files and downloaded requirements, used as they are instead of built."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Final

from harness.build import wheelfacts
from harness.build.wheelhouse import TargetPython, download
from harness.build.wheels import BuiltWheel
from harness.common.digests import file_sha256
from harness.errors import InputError
from harness.scenario.load import Scenario, WheelSpec, nothing_to_import
from harness.scenario.requires_dist import (
    by_file_name,
    read_declared,
    target_environment,
    unmet,
    unmet_message,
)
from harness.scenario.wheel_contents import read_contents

GIVEN: Final = "given"


def given_wheel(spec: WheelSpec, path: Path, wheelhouse: Path | None = None) -> BuiltWheel:
    """A given wheel file as the runner and the backends take it; its hash is provenance."""
    sha = file_sha256(path)
    read = wheelfacts.facts(path, sha)
    return BuiltWheel(
        wheel_id=spec.id,
        module=",".join(spec.imports or read.imports),
        fixture=spec.requirement or path.name,
        toolchain=GIVEN,
        link="",
        path=path,
        sha256=sha,
        compiler="",
        elf_comment=read.elf_comment,
        builder=GIVEN,
        builder_id="",
        audit="",
        cache_key=sha[:32],
        wheelhouse=str(wheelhouse) if wheelhouse else "",
    )


def given_wheels(
    specs: Sequence[WheelSpec], python: Callable[[], TargetPython]
) -> dict[str, BuiltWheel]:
    """The given wheels of a set, by wheel id. Each requirement comes from a wheelhouse of its
    own for the target (it and its dependencies, downloaded once, then cached), so a wheel's
    download is shared by every set it is in (the atlas's pairs) and two requirements whose
    dependencies clash are refused by pip's install, as `not-installable`, not by the
    download. Local files are used as they are. `python` tells the target's Python, asked only
    when there is something to download."""
    requirements = [s.requirement for s in specs if s.requirement]
    constraints = sorted({path for s in specs if s.requirement for path in s.constraints})
    target = python() if requirements else None
    out: dict[str, BuiltWheel] = {}
    for spec in specs:
        if spec.requirement:
            assert target is not None
            house = download([spec.requirement], target, constraints)
            out[spec.id] = given_wheel(spec, house.wheel_for(spec.requirement), house.path)
        elif spec.wheel is not None:
            out[spec.id] = given_wheel(spec, spec.wheel)
    return out


def require_dependencies(wheels: Sequence[BuiltWheel], python: Callable[[], TargetPython]) -> None:
    """Stop before any cell (InputError) when the set installs without a wheelhouse, so with
    `--no-deps`, and a given wheel declares a requirement no wheel of the set meets. `python`
    tells the target's Python, asked only when a requirement has a marker."""
    if any(w.wheelhouse for w in wheels):
        return
    declared = [
        read_declared(w.path) if w.toolchain == GIVEN else by_file_name(w.path) for w in wheels
    ]
    if not any(r.marker is not None for d in declared for r in d.requires):
        env = target_environment(None, None)
        found = unmet(declared, env)
        if found:
            raise InputError(unmet_message(found, env["python_version"]))
        return
    target = python()
    found = unmet(declared, target_environment(target.version, target.arch))
    if found:
        raise InputError(unmet_message(found, target.version))


def provided_names(wheels: Sequence[BuiltWheel]) -> tuple[str, ...]:
    """Every top-level module name the installed set can hold: the wheels' own, and those of
    every wheel in their wheelhouses (what pip may install as their dependencies)."""
    paths = {w.path for w in wheels}
    for house in sorted({w.wheelhouse for w in wheels if w.wheelhouse}):
        paths |= set(Path(house).glob("*.whl"))
    names: set[str] = set()
    for path in sorted(paths):
        stat = path.stat()
        names.update(_top_level(path, stat.st_size, stat.st_mtime_ns))
    return tuple(sorted(names))


@functools.lru_cache(maxsize=4096)
def _top_level(path: Path, size: int, mtime_ns: int) -> tuple[str, ...]:
    """A wheel's top-level names, read once per run for a file unchanged on disk (a whole
    atlas asks for each wheelhouse's once per wheel set)."""
    del size, mtime_ns  # in the cache key only
    return tuple(read_contents(path).top_level())


def with_modules(scenario: Scenario, wheels: Sequence[BuiltWheel]) -> Scenario:
    """The scenario with each requirement's modules filled in from its downloaded wheel."""
    by_id = {w.wheel_id: w for w in wheels}
    specs = []
    for spec in scenario.wheels:
        if spec.imports or spec.id not in by_id:
            specs.append(spec)
            continue
        found = wheelfacts.facts(by_id[spec.id].path, by_id[spec.id].sha256).imports
        if not found:
            problem = nothing_to_import(by_id[spec.id].path.name)
            raise InputError(f"{scenario.path}: {spec.id}: {problem}")
        specs.append(replace(spec, module=found[0], modules=found))
    return replace(scenario, wheels=tuple(specs))
