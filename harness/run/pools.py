"""Shared environments: which wheel sets of a run (the atlas's pairs and singletons) can run
their cells in one installed environment, a pool, without changing what any cell sees.

A wheel set installs its wheels and, from their wheelhouses, their dependencies; each
wheelhouse holds exactly what pip picks for its requirement on the target. So when no project
has two different files among the wheelhouses of a pool's sets, pip has one candidate per
project and installs the pool as the union of the sets, each distribution the very file the
set alone would get. A cell then hides every distribution of the pool that its own set would
not install (`CellJob.hidden_modules`, `hidden_dists`; the probe makes them unfindable, as if
absent), so what it imports, and what a module's optional `import pyarrow` finds, is its set's
alone. What the hiding cannot undo stays out of pools:
- a project with two files among a set's own wheelhouses (pip's choice is then the set's);
- `.pth` files, which run when the interpreter starts, before any hiding: a set joins a pool
  only when the pool's distributions with `.pth` files are its own too;
- a module one distribution holds below another's regular package (hiding one hides both).
A set no pool takes, and a pool that would serve one set, get an environment of their own as
before. The grouping is greedy, in the order the sets are given.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from packaging.utils import canonicalize_name, parse_wheel_filename

from harness.build.wheels import BuiltWheel
from harness.scenario.wheel_contents import read_contents


@dataclass(frozen=True, kw_only=True)
class Distribution:
    """One wheel file as pip installs it."""

    project: str  # canonical name
    file: str  # the wheel file's name
    size: int  # with the name, the file's identity (PyPI never takes a file name twice)
    roots: tuple[str, ...]  # the module names that are its own (WheelContents.own_roots)
    startup: bool  # it installs .pth files


@dataclass(frozen=True, kw_only=True)
class WheelSet:
    """A run's environment as planned: the cells of `key` (a cell group) need these wheels."""

    key: str
    target: str
    arch: str
    wheels: tuple[BuiltWheel, ...]


@dataclass(frozen=True, kw_only=True)
class Pool:
    """An environment that serves several wheel sets: every wheel of its sets, installed once."""

    name: str
    target: str
    arch: str
    wheels: tuple[BuiltWheel, ...]
    members: tuple[str, ...]  # the keys of the sets it serves, in order


@dataclass(frozen=True, kw_only=True)
class Seat:
    """A wheel set's place in a pool: what its cells hide of the pool."""

    pool: Pool
    hidden_modules: tuple[str, ...]
    hidden_dists: tuple[str, ...]


@functools.cache
def distribution(path: Path) -> Distribution:
    """The distribution a wheel file installs (its file list only; cached per file)."""
    contents = read_contents(path)
    return Distribution(
        project=str(canonicalize_name(parse_wheel_filename(path.name)[0])),
        file=path.name,
        size=path.stat().st_size,
        roots=contents.own_roots(),
        startup=bool(contents.pth_files),
    )


def installed_by(wheels: Sequence[BuiltWheel]) -> tuple[Distribution, ...]:
    """Every distribution a set may install: its wheels and every wheel of their wheelhouses."""
    paths = {w.path for w in wheels}
    for house in sorted({w.wheelhouse for w in wheels if w.wheelhouse}):
        paths |= set(Path(house).glob("*.whl"))
    return tuple(distribution(path) for path in sorted(paths))


@dataclass(kw_only=True)
class _Forming:
    target: str
    arch: str
    files: dict[str, Distribution]  # project -> its one file
    startup: frozenset[str]  # projects with .pth files: every member's own
    members: list[str] = field(default_factory=list)
    wheels: dict[Path, BuiltWheel] = field(default_factory=dict)  # by file, each once
    hashes: dict[str, str] = field(default_factory=dict)  # file name -> sha256, of given wheels

    def takes(self, wanted: WheelSet, dists: Mapping[str, Distribution]) -> bool:
        if (wanted.target, wanted.arch) != (self.target, self.arch):
            return False
        if frozenset(p for p, d in dists.items() if d.startup) != self.startup:
            return False
        # Wheels built here may share a name and differ (two toolchains): their hashes tell.
        if any(self.hashes.get(w.path.name, w.sha256) != w.sha256 for w in wanted.wheels):
            return False
        return all(self.files.get(p, d) == d for p, d in dists.items())

    def add(self, wanted: WheelSet, dists: Mapping[str, Distribution]) -> None:
        self.files.update(dists)
        self.members.append(wanted.key)
        for wheel in wanted.wheels:
            self.wheels.setdefault(wheel.path, wheel)
            self.hashes.setdefault(wheel.path.name, wheel.sha256)


def _single(dists: Iterable[Distribution]) -> dict[str, Distribution] | None:
    """The distributions by project, or None when a project has two files."""
    out: dict[str, Distribution] = {}
    for dist in dists:
        if out.setdefault(dist.project, dist) != dist:
            return None
    return out


def _overlaps(hidden: Iterable[str], kept: Iterable[str]) -> bool:
    """Whether hiding a name of `hidden` would hide a module of `kept` (a hidden name below a
    kept package is fine: that package alone would not hold it)."""
    kept = tuple(kept)
    return any(k == h or k.startswith(h + ".") for h in hidden for k in kept)


def plan_pools(sets: Sequence[WheelSet]) -> dict[str, Seat]:
    """The seats of the sets that share a pool, by set key; sets left out run on their own."""
    forming: list[_Forming] = []
    own: dict[str, dict[str, Distribution]] = {}
    for wanted in sets:
        dists = _single(installed_by(wanted.wheels))
        if dists is None:
            continue
        own[wanted.key] = dists
        pool = next((f for f in forming if f.takes(wanted, dists)), None)
        if pool is None:
            startup = frozenset(p for p, d in dists.items() if d.startup)
            pool = _Forming(target=wanted.target, arch=wanted.arch, files={}, startup=startup)
            forming.append(pool)
        pool.add(wanted, dists)
    seats: dict[str, Seat] = {}
    number = 0
    for formed in forming:
        placed: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
        for key in formed.members:
            mine = own[key]
            others = [d for p, d in formed.files.items() if p not in mine]
            kept = {root for d in mine.values() for root in d.roots}
            hidden = sorted({root for d in others for root in d.roots} - kept)
            if _overlaps(hidden, kept):
                continue
            placed[key] = (tuple(hidden), tuple(sorted(d.project for d in others)))
        if len(placed) < 2:
            continue
        number += 1
        made = Pool(
            name=f"pool-{number}",
            target=formed.target,
            arch=formed.arch,
            wheels=tuple(formed.wheels.values()),
            members=tuple(placed),
        )
        for key, (modules, projects) in placed.items():
            seats[key] = Seat(pool=made, hidden_modules=modules, hidden_dists=projects)
    return seats


@dataclass(frozen=True, kw_only=True)
class Hiding:
    """What a run of some of an environment's wheels hides of it: the distributions none of
    those wheels would install (their modules and names), so that the run sees its wheels as
    if installed alone. Screening (harness/run/screen.py) runs parts of a group so."""

    modules: tuple[str, ...] = ()
    dists: tuple[str, ...] = ()


def hidden(wheels: Sequence[BuiltWheel], part: Sequence[str]) -> Hiding:
    """What a run of the wheels of `part` (wheel ids) hides of an environment of `wheels`:
    every project that none of the part's wheels would install (by name: where two files of
    a project are about, pip's pick is the environment's, and the part keeps it). Nothing
    when hiding one would hide a module of the part's own."""
    roots: dict[str, set[str]] = {}
    for dist in installed_by(wheels):
        roots.setdefault(dist.project, set()).update(dist.roots)
    mine = {d.project for d in installed_by([w for w in wheels if w.wheel_id in part])}
    others = sorted(p for p in roots if p not in mine)
    kept = {root for p in mine for root in roots.get(p, ())}
    modules = sorted({root for p in others for root in roots[p]} - kept)
    if _overlaps(modules, kept):
        return Hiding()
    return Hiding(modules=tuple(modules), dists=tuple(others))
