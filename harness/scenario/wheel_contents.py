"""What a wheel holds, read from its archive (never by importing it): its top-level import
names, extension modules, bundled libraries and Python sources, and what to import to use it
as its users do."""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Final

from packaging.utils import parse_wheel_filename

from harness.errors import InputError

IDENT_RE: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
DATA_DIR_RE: Final = re.compile(r"^[^/]+\.data/(purelib|platlib)/")
TOP_LEVEL_TXT: Final = re.compile(r"^[^/]+\.dist-info/top_level\.txt$")
TEST_WORDS: Final = frozenset({"test", "tests", "testing", "conftest"})
# Top-level modules that are never imported: a setup script shipped by mistake runs setup().
NOT_IMPORTED: Final = frozenset({"setup"})


def is_test(name: str) -> bool:
    """Whether a dotted name is test code: a component with a word such as `tests`,
    `testing` (`numpy._core._multiarray_tests`, `test_foo`), but not `pytest`."""
    words = {w for component in name.lower().split(".") for w in component.split("_")}
    return not words.isdisjoint(TEST_WORDS)


def is_private(name: str) -> bool:
    """Whether any component of a dotted name starts with `_`."""
    return any(part.startswith("_") for part in name.split("."))


@dataclass(frozen=True, kw_only=True)
class WheelContents:
    """A wheel's project name and the parts of its archive the harness cares about."""

    project: str
    extensions: tuple[str, ...]  # dotted module names of the extension modules
    packages: tuple[str, ...]  # dotted names of regular packages (with __init__.py)
    modules: tuple[str, ...]  # dotted names of the other Python modules (.py, not __init__)
    libraries: tuple[str, ...]  # archive paths of bundled shared libraries (not modules)
    python_files: tuple[str, ...]  # archive paths of .py files
    declared: tuple[str, ...] | None = None  # the names top_level.txt lists, when it exists
    pth_files: tuple[str, ...] = ()  # .pth files it installs: site runs them at every start

    def own_roots(self) -> tuple[str, ...]:
        """The shallowest dotted names under which all of the wheel's modules are its own:
        each module's first prefix that is a regular package or a module of this wheel
        (`google.protobuf` for protobuf, whose `google/` is a namespace folder that other
        wheels share; `numpy`; `_cffi_backend`). Hiding these hides the wheel and nothing
        else."""
        importable = {*self.packages, *self.modules, *self.extensions}
        roots: set[str] = set()
        for name in importable:
            parts = name.split(".")
            prefix = next(
                ".".join(parts[:n])
                for n in range(1, len(parts) + 1)
                if ".".join(parts[:n]) in importable
            )
            roots.add(prefix)
        return tuple(sorted(roots))

    def top_level(self) -> tuple[str, ...]:
        """Every top-level name the wheel installs: packages (regular or namespace), modules
        and extension modules, private ones too."""
        names = {n.split(".")[0] for n in (*self.extensions, *self.packages, *self.modules)}
        return tuple(sorted(names))

    def _importable(self, name: str) -> bool:
        return name in self.packages or name in self.modules or name in self.extensions

    def _root(self, top: str) -> str | None:
        """What a user imports for a top-level name: the name itself, or for a namespace
        package (a folder without `__init__.py`, such as `google`) its first public regular
        package (or module), shallowest first."""
        if self._importable(top):
            return top
        below = [
            name
            for name in (*self.packages, *self.modules, *self.extensions)
            if name.startswith(top + ".") and not is_private(name) and not is_test(name)
        ]
        regular = [name for name in below if name in self.packages] or below
        return min(regular, key=lambda n: (n.count("."), n), default=None)

    def roots(self) -> tuple[str, ...]:
        """The wheel's public import names, in a stable order: from top_level.txt when it
        lists names the wheel holds, else from the file list; namespace packages give their
        first regular package. Private names (`_foo`) only when the wheel has no public one."""
        present = self.top_level()
        declared = [n for n in self.declared or () if n in present]
        tops = [n for n in declared or present if not is_test(n) and n not in NOT_IMPORTED]
        found = [root for root in map(self._root, tops) if root is not None]
        public = [n for n in found if not n.startswith("_")]
        return tuple(dict.fromkeys(sorted(public or found)))

    def imports(self) -> tuple[str, ...]:
        """What to import to load the wheel as its users do, in this order: its public
        top-level names (`roots`), then for each its shallowest public extension modules
        (never a private one such as `pkg._ext`: only the package imports those, and some
        fail when imported on their own), then the private top-level extension modules
        beside a public package (cffi's `_cffi_backend` next to `cffi/`, which `import cffi`
        leaves unloaded; importing one the package already loaded does nothing). A module
        named like its own top-level package (opencv's `cv2/cv2.abi3.so`, which the package
        loads itself) is not imported twice. Empty when the wheel holds nothing to import."""
        roots = self.roots()
        out = list(roots)
        for top in dict.fromkeys(root.split(".")[0] for root in roots):
            inside = [
                name
                for name in self.extensions
                if name.startswith(top + ".") and not is_private(name.removeprefix(top + "."))
            ]
            inside = [name for name in inside if not is_test(name)]
            shallowest = min((name.count(".") for name in inside), default=0)
            for name in sorted(n for n in inside if n.count(".") == shallowest):
                parts = name.split(".")
                if parts[-1] != parts[0] and name not in out:
                    out.append(name)
        if any(not root.startswith("_") for root in roots):
            beside = [e for e in self.extensions if "." not in e and e.startswith("_")]
            out += sorted(e for e in beside if not is_test(e) and e not in out)
        return tuple(out)


def _module_name(path: str) -> str | None:
    """`pkg/sub/_ext.cpython-311-x86_64-linux-gnu.so` → `pkg.sub._ext`; None when the file
    cannot be a module (a bundled library in `x.libs/`, `libfoo.so.1`, a data file)."""
    pure = PurePosixPath(path)
    if pure.suffix != ".so":
        return None
    stem, _, tag = pure.name.removesuffix(".so").partition(".")
    if not tag and stem.startswith("lib"):
        return None  # `libfoo.so` beside the modules is a library, not a module
    parts = [*pure.parent.parts, stem]
    if not all(IDENT_RE.match(part) for part in parts):
        return None
    return ".".join(parts)


def python_module(path: str) -> tuple[str | None, bool]:
    """`pkg/sub/mod.py` → (`pkg.sub.mod`, False); `pkg/__init__.py` → (`pkg`, True); None
    when a folder or the file name is not an identifier."""
    pure = PurePosixPath(path)
    dirs = list(pure.parent.parts)
    package = pure.name == "__init__.py"
    parts = dirs if package else [*dirs, pure.stem]
    if not parts or not all(IDENT_RE.match(part) for part in parts):
        return None, package
    return ".".join(parts), package


def _declared(archive: zipfile.ZipFile, names: list[str]) -> tuple[str, ...] | None:
    """The identifiers top_level.txt lists, or None when the wheel has no such file."""
    member = next((n for n in names if TOP_LEVEL_TXT.match(n)), None)
    if member is None:
        return None
    text = archive.read(member).decode("utf-8", "replace")
    return tuple(line.strip() for line in text.splitlines() if IDENT_RE.match(line.strip()))


def read_contents(wheel: Path) -> WheelContents:
    """The wheel's contents from its file list; InputError when it is not a wheel."""
    try:
        project = str(parse_wheel_filename(wheel.name)[0])
        with zipfile.ZipFile(wheel) as archive:
            names = archive.namelist()
            declared = _declared(archive, names)
    except (OSError, zipfile.BadZipFile, ValueError, KeyError) as exc:
        raise InputError(f"{wheel}: not a readable wheel ({exc}); pass a .whl file") from exc
    extensions: list[str] = []
    packages: list[str] = []
    modules: list[str] = []
    libraries: list[str] = []
    python_files: list[str] = []
    pth_files: list[str] = []
    for raw in names:
        name = DATA_DIR_RE.sub("", raw)
        head = name.split("/", 1)[0]
        if head.endswith(".dist-info") or head.endswith(".data") or name.endswith("/"):
            continue
        if "/" not in name and name.endswith(".pth"):
            pth_files.append(name)
        base = PurePosixPath(name).name
        if name.endswith(".py"):
            python_files.append(raw)
            dotted, package = python_module(name)
            if dotted is not None:
                (packages if package else modules).append(dotted)
        module = _module_name(name)
        if module is not None:
            extensions.append(module)
        elif base.endswith(".so") or ".so." in base:
            libraries.append(raw)
    return WheelContents(
        project=project,
        extensions=tuple(sorted(set(extensions))),
        packages=tuple(sorted(set(packages))),
        modules=tuple(sorted(set(modules))),
        libraries=tuple(sorted(libraries)),
        python_files=tuple(sorted(python_files)),
        declared=declared,
        pth_files=tuple(sorted(pth_files)),
    )
