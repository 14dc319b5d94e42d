"""What a cell imports for a given wheel: the file list's answer (`WheelContents.imports`),
refined by reading the wheel's Python sources (parsed, never run).

- A public top-level package whose `__init__` imports, unconditionally, a module that the wheel
  requires only under an extra, or not at all, is an optional integration (duckdb's
  `adbc_driver_duckdb` needs `adbc-driver-manager`): it is left out while another public
  name remains, since importing it without that package only fails.
- When nothing imported so far would load any of the wheel's native code (`import PIL`,
  `import cryptography`, `import google.protobuf` and `import llvmlite` load none), the
  public module that loads it and that most of the package builds on is added, raised to its
  package when the package's own `__init__` loads it: `PIL.Image`,
  `cryptography.hazmat.primitives.hashes`, `llvmlite.binding`. Native code is an extension
  module, or a module that loads a library with ctypes. A private module is never added.

Imports are read from the syntax tree (`source_imports`), never run.
"""

from __future__ import annotations

import functools
import re
import sys
import zipfile
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from packaging.utils import canonicalize_name

from harness.errors import InputError
from harness.scenario.requires_dist import requirements_in
from harness.scenario.source_imports import Imported, imports_in
from harness.scenario.wheel_contents import (
    DATA_DIR_RE,
    WheelContents,
    is_private,
    is_test,
    python_module,
    read_contents,
)

CTYPES_LOAD_RE: Final = re.compile(rb"\b(CDLL|PyDLL|LoadLibrary)\s*\(|\bcdll\.")
MAX_SOURCES: Final = 5000  # a package this big is not searched for where its native code is


class Sources:
    """The wheel's Python modules, read and parsed on demand from its archive."""

    def __init__(self, archive: zipfile.ZipFile, contents: WheelContents) -> None:
        self.archive = archive
        self.contents = contents
        self.members: dict[str, tuple[str, bool]] = {}  # module → (archive member, package)
        for member in contents.python_files:
            dotted, package = python_module(DATA_DIR_RE.sub("", member))
            if dotted is not None:
                self.members[dotted] = (member, package)
        self.known = frozenset(self.members) | frozenset(contents.extensions)
        self._parsed: dict[str, tuple[tuple[Imported, ...], bool]] = {}

    def _parse(self, module: str) -> tuple[tuple[Imported, ...], bool]:
        """What a Python module imports, and whether it loads a library with ctypes."""
        if module not in self._parsed:
            member, package = self.members[module]
            try:
                source = self.archive.read(member)
            except (OSError, zipfile.BadZipFile, KeyError) as exc:
                raise InputError(f"{self.archive.filename}: cannot read {member} ({exc})") from exc
            loads = bool(CTYPES_LOAD_RE.search(source))
            self._parsed[module] = (imports_in(source, module, package), loads)
        return self._parsed[module]

    def imports(self, module: str) -> tuple[Imported, ...]:
        """What the module imports when it runs; () for an extension or unknown module."""
        return self._parse(module)[0] if module in self.members else ()

    def native(self, module: str) -> bool:
        """An extension module, or a Python module that loads a library with ctypes."""
        if module in self.contents.extensions:
            return True
        return module in self.members and self._parse(module)[1]

    def own(self, module: str) -> tuple[str, ...]:
        """The wheel's own modules an import of `module` runs: its parent packages first."""
        parts = module.split(".")
        return tuple(
            name
            for name in (".".join(parts[:n]) for n in range(1, len(parts) + 1))
            if name in self.known
        )

    def reached(self, starts: Sequence[str]) -> Iterator[str]:
        """The modules of the wheel that importing `starts` runs, nearest first."""
        seen: set[str] = set()
        queue = deque(m for start in starts for m in self.own(start))
        while queue:
            module = queue.popleft()
            if module in seen:
                continue
            seen.add(module)
            yield module
            queue += [m for i in self.imports(module) for m in self.own(i.name) if m not in seen]

    def loads_native(self, starts: Sequence[str]) -> bool:
        """Whether importing `starts` runs native code of the wheel (stops at the first)."""
        return any(self.native(m) for m in self.reached(starts))


@dataclass(frozen=True, kw_only=True)
class Requirements:
    """The wheel's declared requirements by normalised project name: those it always needs,
    and those only an extra asks for."""

    always: frozenset[str]
    extra_only: frozenset[str]

    @classmethod
    def read(cls, archive: zipfile.ZipFile) -> Requirements:
        """From METADATA; none when the wheel has none or it does not read (left to pip)."""
        always: set[str] = set()
        extra: set[str] = set()
        try:
            requirements = requirements_in(archive)
        except InputError:
            requirements = ()
        for requirement in requirements:
            name = canonicalize_name(requirement.name)
            (extra if "extra" in str(requirement.marker or "") else always).add(name)
        return cls(always=frozenset(always), extra_only=frozenset(extra - always))


def _normal(module: str) -> str:
    return canonicalize_name(module.split(".")[0])


def optional_roots(sources: Sources, roots: Sequence[str], needs: Requirements) -> set[str]:
    """Public roots whose own `__init__` imports, unconditionally, a module that is neither the
    wheel's, nor the standard library's, nor something the wheel always requires."""
    own = set(sources.contents.top_level())
    out: set[str] = set()
    for root in roots:
        for item in sources.imports(root):
            top = item.name.split(".")[0]
            if item.conditional or top in own or top in sys.stdlib_module_names:
                continue
            if _normal(top) in needs.extra_only or _normal(top) not in needs.always:
                out.add(root)
    return out


def native_entry(sources: Sources, roots: Sequence[str]) -> str | None:
    """The public module to add when importing `roots` loads none of the wheel's native code:
    of the public modules that load some directly, the one most of the wheel's modules import
    (then the shallowest, then by name), raised to its package while that package is no root
    and its `__init__` loads it too. None when no public module loads native code."""
    tops = {root.split(".")[0] for root in roots}
    modules = [
        m
        for m in sorted(sources.members)
        if m.split(".")[0] in tops and not is_test(m) and not is_private(_below_top(m))
    ]
    if len(modules) > MAX_SOURCES:
        return None
    loaders = [
        m
        for m in modules
        if sources.native(m) or any(sources.native(i.name) for i in sources.imports(m))
    ]
    if not loaders:
        return None
    importers: dict[str, int] = dict.fromkeys(loaders, 0)
    for module in sources.members:
        for name in {i.name for i in sources.imports(module)} & set(importers):
            importers[name] += 1
    entry = min(loaders, key=lambda m: (-importers[m], m.count("."), m))
    while "." in entry:
        parent = entry.rpartition(".")[0]
        if parent in roots or parent not in sources.members:
            break
        if not sources.loads_native([parent]):
            break
        entry = parent
    return entry


def _below_top(module: str) -> str:
    """`pkg.sub._x` → `sub._x`: what privacy is judged on below a top-level name."""
    return module.partition(".")[2]


def refine(contents: WheelContents, archive: zipfile.ZipFile) -> tuple[str, ...]:
    """`contents.imports()`, without optional integrations, with a native entry when needed."""
    listed = contents.imports()
    if not listed:
        return listed
    sources = Sources(archive, contents)
    roots = contents.roots()
    public = [r for r in roots if not r.startswith("_")]
    optional = optional_roots(sources, public, Requirements.read(archive)) if public else set()
    if optional and len(optional) < len(public):
        listed = tuple(m for m in listed if not any(_within(m, o) for o in optional))
        roots = tuple(r for r in roots if r not in optional)
    if not contents.extensions and not contents.libraries:
        return listed  # no native code of its own: a dependency's, which its import loads
    if sources.loads_native(listed):
        return listed
    entry = native_entry(sources, roots)
    return listed if entry is None or entry in listed else (*listed, entry)


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def imports_for(wheel: Path) -> tuple[str, ...]:
    """What a cell imports for this wheel, as its users do (see the module's docstring).
    Remembered per file (path, size and time), since a run asks for each wheel often."""
    try:
        stat = wheel.stat()
    except OSError as exc:
        raise InputError(f"{wheel}: not a readable wheel ({exc}); pass a .whl file") from exc
    return _imports_for(wheel.resolve(), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=256)
def _imports_for(wheel: Path, size: int, mtime_ns: int) -> tuple[str, ...]:
    contents = read_contents(wheel)
    try:
        with zipfile.ZipFile(wheel) as archive:
            return refine(contents, archive)
    except (OSError, zipfile.BadZipFile) as exc:
        raise InputError(f"{wheel}: not a readable wheel ({exc}); pass a .whl file") from exc
