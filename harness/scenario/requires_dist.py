"""The dependencies given wheels declare (METADATA's Requires-Dist) that none of the set meets.

Local wheels without a wheelhouse install with `--no-deps`, so a dependency left out would
make every cell an import error (`missing-dependency`) instead of a verdict about the wheels.
Markers are evaluated for the target's Python on Linux; extras count only when a wheel of
the set asks for them.
"""

from __future__ import annotations

import email.parser
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from packaging.markers import default_environment
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name, parse_wheel_filename
from packaging.version import Version

from harness.errors import InputError

METADATA_SUFFIX: Final = ".dist-info/METADATA"


@dataclass(frozen=True, kw_only=True)
class Declared:
    """One wheel of the set: its project, version and declared requirements."""

    wheel: str  # file name
    project: NormalizedName
    version: Version
    requires: tuple[Requirement, ...]


@dataclass(frozen=True, kw_only=True)
class Unmet:
    """A wheel's requirements that no wheel of the set meets, as written (with a note when a
    wheel of that project is there in another version)."""

    wheel: str
    missing: tuple[str, ...]


def requirements_in(archive: zipfile.ZipFile) -> tuple[Requirement, ...]:
    """The Requires-Dist lines of an open wheel's METADATA; InputError when it has none or
    one is not a requirement."""
    where = archive.filename
    member = next((n for n in archive.namelist() if n.endswith(METADATA_SUFFIX)), None)
    if member is None:
        raise InputError(f"{where}: a wheel without .dist-info/METADATA; rebuild it")
    text = archive.read(member).decode("utf-8", "replace")
    headers = email.parser.Parser().parsestr(text, headersonly=True)
    requires = []
    for line in headers.get_all("Requires-Dist", []):
        try:
            requires.append(Requirement(str(line)))
        except InvalidRequirement as exc:
            raise InputError(f"{where}: METADATA: bad Requires-Dist {line!r} ({exc})") from None
    return tuple(requires)


def read_declared(path: Path) -> Declared:
    """A wheel's name, version and Requires-Dist lines; InputError when unreadable."""
    try:
        name, version, _, _ = parse_wheel_filename(path.name)
        with zipfile.ZipFile(path) as archive:
            requires = requirements_in(archive)
    except (OSError, zipfile.BadZipFile, ValueError) as exc:
        raise InputError(f"{path}: not a readable wheel ({exc}); pass a .whl file") from exc
    return Declared(wheel=path.name, project=name, version=version, requires=requires)


def by_file_name(path: Path) -> Declared:
    """A wheel as a provider only (its requirements unread): name and version from its file
    name, as for the harness's own fixture wheels."""
    name, version, _, _ = parse_wheel_filename(path.name)
    return Declared(wheel=path.name, project=name, version=version, requires=())


def target_environment(python_version: str | None, arch: str | None) -> dict[str, str]:
    """Marker variables for CPython `python_version` ("3.11") on Linux `arch`; the host's
    where one is not known."""
    env = {key: str(value) for key, value in default_environment().items()}
    env.update(
        implementation_name="cpython",
        platform_python_implementation="CPython",
        sys_platform="linux",
        platform_system="Linux",
        os_name="posix",
    )
    if arch:
        env["platform_machine"] = arch
    if python_version and python_version != env["python_version"]:
        env["python_version"] = python_version
        env["python_full_version"] = f"{python_version}.0"
        env["implementation_version"] = f"{python_version}.0"
    return env


def _active(requirement: Requirement, env: Mapping[str, str], extras: set[str]) -> bool:
    if requirement.marker is None:
        return True
    return any(requirement.marker.evaluate({**env, "extra": e}) for e in {"", *extras})


def unmet(wheels: Sequence[Declared], env: Mapping[str, str]) -> tuple[Unmet, ...]:
    """Each wheel's active requirements that no wheel of the set meets, in the set's order.
    Extras asked of a wheel by another wheel of the set count as requested."""
    by_project = {w.project: w for w in wheels}
    asked: dict[str, set[str]] = {}
    for wheel in wheels:
        for requirement in wheel.requires:
            if _active(requirement, env, set()):
                name = canonicalize_name(requirement.name)
                asked.setdefault(name, set()).update(requirement.extras)
    out: list[Unmet] = []
    for wheel in wheels:
        missing: list[str] = []
        for requirement in wheel.requires:
            if not _active(requirement, env, asked.get(wheel.project, set())):
                continue
            given = by_project.get(canonicalize_name(requirement.name))
            shown = str(requirement).split(";", 1)[0].strip()
            if given is None:
                missing.append(shown)
            elif not requirement.specifier.contains(given.version, prereleases=True):
                missing.append(f"{shown} (given: {given.version})")
        if missing:
            out.append(Unmet(wheel=wheel.wheel, missing=tuple(dict.fromkeys(missing))))
    return tuple(out)


def unmet_message(found: Sequence[Unmet], python_version: str) -> str:
    """The input error of a set whose wheels need packages it lacks."""
    lines = [
        "the given wheels need packages that none of them provides (markers evaluated for "
        f"Python {python_version}); installed without their dependencies, every cell would "
        "be an import error:"
    ]
    lines += [f"  {u.wheel}: {', '.join(u.missing)}" for u in found]
    example = found[0].missing[0].split(" (given")[0]
    lines.append(
        "fix: give their wheels too, or let pip fetch them: pass the projects as requirements "
        "with --download instead of files, or add the missing ones as requirements beside "
        f"the files (wheelclash check FILES {example!r} --download); in a scenario file, as "
        "`requirement` rows"
    )
    return "\n".join(lines)
