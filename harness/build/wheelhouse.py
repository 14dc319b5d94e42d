"""Wheelhouses: requirements downloaded ahead with `pip download` for one target's Python and
platform, cached by a hash of what was asked, so every later run is offline."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename

from harness.common import cachedir, progress
from harness.common.cachedir import Kind
from harness.common.digests import file_sha256
from harness.common.locking import file_lock
from harness.common.process import run_logged
from harness.common.progress import StageKind
from harness.errors import InfrastructureError, InputError

logger = logging.getLogger(__name__)

# Bump when the download command changes, so old wheelhouses are not reused.
WHEELHOUSE_VERSION: Final = 1
LEGACY_MANYLINUX: Final = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}


@dataclass(frozen=True, kw_only=True)
class TargetPython:
    """The interpreter and platform wheels are chosen for: CPython `version` on glibc."""

    version: str  # "3.11"
    glibc: str  # "2.36"
    arch: str

    @property
    def abi(self) -> str:
        return "cp" + self.version.replace(".", "")

    def platforms(self) -> tuple[str, ...]:
        """Every manylinux tag this glibc accepts, newest first (pip does not expand them)."""
        major, minor = (int(part) for part in self.glibc.split(".")[:2])
        if major != 2:
            raise InputError(f"glibc {self.glibc} is not a glibc 2.x; cannot pick manylinux tags")
        tags: list[str] = []
        for number in range(minor, 4, -1):
            tags.append(f"manylinux_2_{number}_{self.arch}")
            if number in LEGACY_MANYLINUX:
                tags.append(f"{LEGACY_MANYLINUX[number]}_{self.arch}")
        return tuple(tags)


def version_prefix(debian_version: str, parts: int = 2) -> str:
    """`3.11.2-1+b1` → `3.11`; `2.36-9+deb12u9` → `2.36`."""
    numbers = debian_version.split(":", 1)[-1].split("-", 1)[0].split("+", 1)[0].split(".")
    return ".".join(numbers[:parts])


@dataclass(frozen=True, kw_only=True)
class Wheelhouse:
    """A folder of wheels, and which file answers each requirement asked."""

    path: Path
    chosen: tuple[tuple[str, Path], ...]  # (requirement, wheel file)

    def wheel_for(self, requirement: str) -> Path:
        return dict(self.chosen)[requirement]


def wheelhouse_key(
    requirements: Sequence[str], python: TargetPython, constraints: Sequence[Path] = ()
) -> str:
    """A hash of what is asked; constraint files count by their contents."""
    recipe: dict[str, object] = {
        "version": WHEELHOUSE_VERSION,
        "requirements": sorted(requirements),
        "python": python.version,
        "glibc": python.glibc,
        "arch": python.arch,
    }
    if constraints:
        recipe["constraints"] = sorted(file_sha256(path) for path in constraints)
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:24]


def match_requirements(requirements: Sequence[str], files: Sequence[Path]) -> dict[str, Path]:
    """The wheel file of each requirement's project among the downloaded files."""
    by_name = {parse_wheel_filename(f.name)[0]: f for f in files if f.suffix == ".whl"}
    chosen: dict[str, Path] = {}
    for requirement in requirements:
        name = canonicalize_name(Requirement(requirement).name)
        if name not in by_name:
            raise InfrastructureError(
                f"pip download gave no wheel for {requirement!r} (files: "
                f"{', '.join(sorted(f.name for f in files))})"
            )
        chosen[requirement] = by_name[name]
    return chosen


def digests(folder: Path) -> dict[str, str]:
    """The sha256 of each wheel of a wheelhouse, by file name: as its manifest recorded them
    when it was downloaded (a wheelhouse is never changed after), else read from the files (a
    folder of wheels made elsewhere)."""
    try:
        recorded = json.loads((folder / cachedir.MARKERS[Kind.WHEELHOUSE]).read_text())["files"]
    except (OSError, ValueError, KeyError, TypeError):
        recorded = {}
    if not isinstance(recorded, dict):
        recorded = {}
    return {
        path.name: str(recorded.get(path.name) or file_sha256(path))
        for path in sorted(folder.glob("*.whl"))
    }


def download(
    requirements: Sequence[str], python: TargetPython, constraints: Sequence[Path] = ()
) -> Wheelhouse:
    """The requirements and their dependencies as wheels for `python`; cached, else downloaded
    with pip (binary wheels only: a source build would not be the wheel users get), held to
    the pip constraint files `constraints`."""
    key = wheelhouse_key(requirements, python, constraints)
    folder = cachedir.entry_dir(Kind.WHEELHOUSE, key)
    ready = cachedir.marker(Kind.WHEELHOUSE, key)
    with file_lock(cachedir.lock_name(Kind.WHEELHOUSE, key)):
        if not ready.is_file():
            shutil.rmtree(folder, ignore_errors=True)
            partial = folder.with_name(key + cachedir.PARTIAL)
            shutil.rmtree(partial, ignore_errors=True)
            command = [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--disable-pip-version-check",
                "--only-binary=:all:",
                "--python-version",
                python.version,
                "--implementation",
                "cp",
                "--abi",
                python.abi,
                "--abi",
                "abi3",
                "--abi",
                "none",
                *(arg for tag in python.platforms() for arg in ("--platform", tag)),
                *(arg for path in constraints for arg in ("--constraint", str(path))),
                "--dest",
                str(partial),
                *requirements,
            ]
            logger.info(
                "downloading %s for Python %s, glibc %s (%s)",
                ", ".join(requirements),
                python.version,
                python.glibc,
                python.arch,
            )
            label = f"{', '.join(requirements)} for CPython {python.version} ({python.arch})"
            with progress.stage(StageKind.DOWNLOAD, label) as step:
                done = run_logged(command)
                step.end(ok=done.returncode == 0)
            if done.returncode != 0:
                raise InputError(
                    f"pip download could not get {', '.join(requirements)} as wheels for "
                    f"CPython {python.version} on glibc {python.glibc} {python.arch}.",
                    context=(done.stderr or done.stdout).strip()[-800:],
                    hint="check the names and versions, and that a binary wheel exists for "
                    "that target (wheelclash never builds user sources).",
                )
            files = sorted(partial.glob("*.whl"))
            chosen = match_requirements(requirements, files)
            manifest = {
                "requirements": list(requirements),
                "chosen": {r: p.name for r, p in chosen.items()},
                "files": {f.name: file_sha256(f) for f in files},
            }
            (partial / ready.name).write_text(json.dumps(manifest, indent=2))
            partial.rename(folder)
        else:
            cachedir.mark_used(Kind.WHEELHOUSE, key)
        manifest = json.loads(ready.read_text())
    chosen_names: dict[str, str] = manifest["chosen"]
    return Wheelhouse(
        path=folder,
        chosen=tuple((r, folder / chosen_names[r]) for r in requirements),
    )
