"""Bundled copies of common libraries whose exported names collide: symbol interposition.

A wheel that carries its own zlib, OpenSSL, protobuf or OpenMP runtime and exports that copy's
dynamic symbols (from an extension module or from a vendored library in `<pkg>.libs/`) puts
those names in the global lookup scope when it is loaded RTLD_GLOBAL. Every object loaded after
it that binds the same names (another wheel's copy of the library, or the system's libssl,
libz, … that CPython's own modules load) then calls the first copy's functions on its own data
structures. The families and their name patterns are data: `[[bundled_library]]` in
resources/predictors.toml. The system's names are read from this machine's copies of the
libraries when found (the runtime search folders of the same file), else the family's
patterns stand for them.
"""

from __future__ import annotations

import functools
import re
import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from elftools.common.exceptions import ELFError

from harness.analysis.elfscan import ElfFacts, read_elf_file
from harness.analysis.mechanisms import Mechanism, Predictor
from harness.scenario.tomlload import Checker

MECHANISM: Final = Mechanism.INTERPOSITION
PREDICTOR: Final = Predictor.BUNDLED_LIBRARY
ROW_KEYS: Final = frozenset({"name", "patterns", "min_symbols", "system", "users"})


@dataclass(frozen=True, kw_only=True)
class LibraryFamily:
    """A common library recognised by the names it exports (each pattern matches from the
    start of a name); a wheel carries it when it exports at least `min_symbols` of them."""

    name: str
    patterns: tuple[str, ...]
    min_symbols: int = 3
    system: tuple[str, ...] = ()  # SONAMEs of the system's copy that CPython's modules load
    users: str = ""  # those CPython modules


def parse_families(check: Checker, doc: dict[str, Any]) -> tuple[LibraryFamily, ...]:
    """The `[[bundled_library]]` rows; problems are added to `check` under their key."""
    rows = doc.get("bundled_library", [])
    if not isinstance(rows, list):
        check.add("bundled_library", "must be an array of tables ([[bundled_library]])")
        return ()
    out = []
    for index, row in enumerate(rows):
        key = f"bundled_library[{index}]"
        if not isinstance(row, dict):
            check.add(key, "must be a table with name, patterns and min_symbols")
            continue
        check.unknown_keys(row, set(ROW_KEYS), key)
        patterns = check.strings(row, "patterns", f"{key}.patterns")
        if not patterns:
            check.add(f"{key}.patterns", "needs at least one pattern of the library's names")
        for number, pattern in enumerate(patterns):
            try:
                re.compile(pattern)
            except re.error as exc:
                check.add(f"{key}.patterns[{number}]", f"not a regular expression: {exc}")
        out.append(
            LibraryFamily(
                name=check.string(row, "name", f"{key}.name"),
                patterns=patterns,
                min_symbols=check.integer(row, "min_symbols", f"{key}.min_symbols", 3, 1),
                system=check.strings(row, "system", f"{key}.system"),
                users=check.string(row, "users", f"{key}.users", ""),
            )
        )
    return tuple(out)


@functools.cache
def _recogniser(families: tuple[LibraryFamily, ...]) -> re.Pattern[str]:
    """One pattern for every family, each in a group `f<index>` (one pass over the names)."""
    branches = (
        f"(?P<f{index}>{'|'.join(f'(?:{p})' for p in family.patterns)})"
        for index, family in enumerate(families)
        if family.patterns
    )
    return re.compile("|".join(branches) or "(?!)")


def family_of(name: str, families: tuple[LibraryFamily, ...]) -> LibraryFamily | None:
    """The first family whose patterns match an exported name, or None."""
    return _family(_recogniser(families), name, families)


def carried(families: tuple[LibraryFamily, ...]) -> Callable[[str], bool]:
    """Whether `copies` counts an exported name (one of a family's, not a version node)."""
    recogniser = _recogniser(families)
    return lambda name: "." not in name and recogniser.match(name) is not None


def _family(
    recogniser: re.Pattern[str], name: str, families: tuple[LibraryFamily, ...]
) -> LibraryFamily | None:
    match = recogniser.match(name)
    if match is None or match.lastgroup is None:
        return None
    return families[int(match.lastgroup[1:])]


@dataclass(frozen=True, kw_only=True)
class Copy:
    """One wheel's exported copy of a family: the names, and the files exporting them."""

    wheel_id: str
    family: LibraryFamily
    holders: tuple[tuple[str, frozenset[str]], ...]  # (file name, names it exports)
    libraries: frozenset[str]  # vendored libraries (not extension modules) among the files

    @property
    def names(self) -> frozenset[str]:
        return frozenset().union(*(names for _, names in self.holders))

    def files_with(self, names: frozenset[str]) -> tuple[str, ...]:
        return tuple(file for file, held in self.holders if held & names)


def copies(
    wheel_id: str,
    elves: Iterable[ElfFacts],
    modules: frozenset[str],
    families: tuple[LibraryFamily, ...],
) -> tuple[Copy, ...]:
    """The families a wheel's ELF files export copies of (at least `min_symbols` names)."""
    found: dict[LibraryFamily, dict[str, set[str]]] = {}
    vendored: set[str] = set()
    # Looked up once here, not per name: the cache key hashes every family's patterns.
    recogniser = _recogniser(families)
    for elf in elves:
        for symbol in elf.exported:
            if "." in symbol.name:
                continue  # a version node (GOMP_1.0, OPENSSL_3.0.0), not a function or object
            family = _family(recogniser, symbol.name, families)
            if family is not None:
                found.setdefault(family, {}).setdefault(elf.name, set()).add(symbol.name)
                if elf.path not in modules:
                    vendored.add(elf.name)
    out = []
    for family, holders in sorted(found.items(), key=lambda item: families.index(item[0])):
        if len(set().union(*holders.values())) < family.min_symbols:
            continue
        out.append(
            Copy(
                wheel_id=wheel_id,
                family=family,
                holders=tuple((file, frozenset(names)) for file, names in sorted(holders.items())),
                libraries=frozenset(holders) & frozenset(vendored),
            )
        )
    return tuple(out)


@dataclass(frozen=True, kw_only=True)
class Collision:
    """`mine` and `other` (another wheel's copy, or the system's) export the same names."""

    mine: Copy
    names: frozenset[str]
    other: Copy | None = None  # None: the system's copy
    sonames: tuple[str, ...] = ()  # the system's libraries, when `other` is None
    source: str = ""  # where the system's names came from

    @property
    def files(self) -> frozenset[str]:
        theirs = self.other.files_with(self.names) if self.other else ()
        return frozenset(self.mine.files_with(self.names)) | frozenset(theirs)

    @property
    def libraries(self) -> frozenset[str]:
        """Objects that are the library as a whole: vendored copies and the system's."""
        mine = self.mine.libraries & frozenset(self.mine.files_with(self.names))
        if self.other is None:
            return mine | frozenset(self.sonames)
        return mine | (self.other.libraries & frozenset(self.other.files_with(self.names)))


@functools.cache
def _exports(path: Path) -> frozenset[str]:
    try:
        facts = read_elf_file(path, relocations=False)
    except (OSError, ELFError, struct.error):
        return frozenset()
    return frozenset(e.name for e in facts.exported)


def system_names(
    family: LibraryFamily, search: Sequence[Path]
) -> tuple[frozenset[str] | None, tuple[Path, ...]]:
    """The names the system's copies of a family export, read from the first folder of
    `search` holding each SONAME, and the files read; (None, ()) when none is found."""
    names: set[str] = set()
    read: list[Path] = []
    for soname in family.system:
        path = next((d / soname for d in search if (d / soname).is_file()), None)
        if path is not None:
            names |= _exports(path.resolve())
            read.append(path)
    return (frozenset(names), tuple(read)) if read else (None, ())


def collisions(wheels: Sequence[Sequence[Copy]], search: Sequence[Path]) -> tuple[Collision, ...]:
    """Every wheel's copies against every other wheel's copy of the same family (both
    directions: whichever is loaded RTLD_GLOBAL first), then against the system's."""
    out: list[Collision] = []
    for mine in (copy for wheel in wheels for copy in wheel):
        for theirs in (copy for wheel in wheels for copy in wheel):
            if theirs.wheel_id == mine.wheel_id or theirs.family != mine.family:
                continue
            shared = mine.names & theirs.names
            if shared:
                out.append(Collision(mine=mine, other=theirs, names=shared))
        if not mine.family.system:
            continue
        names, read = system_names(mine.family, search)
        if names is None:
            shared = mine.names  # the patterns stand for the system's names
            sonames = mine.family.system
            source = "by name pattern; not found on this machine"
        else:
            shared = mine.names & names
            sonames = tuple(p.name for p in read)
            source = "read from " + ", ".join(sorted({str(p.parent) for p in read}))
        if shared:
            out.append(Collision(mine=mine, names=shared, sonames=sonames, source=source))
    return tuple(out)
