"""What a wheel holds, read from its file list (never by importing it): extension modules,
import names, bundled libraries and Python sources."""

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


@dataclass(frozen=True, kw_only=True)
class WheelContents:
    """A wheel's project name and the parts of its file list the harness cares about."""

    project: str
    extensions: tuple[str, ...]  # dotted module names of the extension modules
    packages: tuple[str, ...]  # dotted names of regular packages (with __init__.py)
    libraries: tuple[str, ...]  # archive paths of bundled shared libraries (not modules)
    python_files: tuple[str, ...]  # archive paths of .py files

    def imports(self) -> tuple[str, ...]:
        """What to import to load the wheel's native code, as a user would.

        For each top-level name that holds extension modules: the package itself (the first
        regular package below a namespace package such as `google`), then its shallowest
        extension modules. A module named like its own top-level package (opencv's
        `cv2/cv2.abi3.so`, which the package loads itself) is not imported twice.
        """
        out: list[str] = []
        for top in sorted({name.split(".")[0] for name in self.extensions}):
            inside = [e for e in self.extensions if e == top or e.startswith(top + ".")]
            if top in inside:
                out.append(top)
                continue
            regular = sorted(
                (p for p in self.packages if p == top or p.startswith(top + ".")),
                key=lambda p: (p.count("."), p),
            )
            if regular:
                out.append(regular[0])
            shallowest = min(e.count(".") for e in inside)
            for name in sorted(e for e in inside if e.count(".") == shallowest):
                parts = name.split(".")
                if parts[-1] == parts[0] or "test" in name.lower():
                    continue
                if name not in out:
                    out.append(name)
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


def read_contents(wheel: Path) -> WheelContents:
    """The wheel's contents from its file list; InputError when it is not a wheel."""
    try:
        project = str(parse_wheel_filename(wheel.name)[0])
        with zipfile.ZipFile(wheel) as archive:
            names = archive.namelist()
    except (OSError, zipfile.BadZipFile, ValueError) as exc:
        raise InputError(f"{wheel}: not a readable wheel ({exc}); pass a .whl file") from exc
    extensions: list[str] = []
    packages: list[str] = []
    libraries: list[str] = []
    python_files: list[str] = []
    for raw in names:
        name = DATA_DIR_RE.sub("", raw)
        head = name.split("/", 1)[0]
        if head.endswith(".dist-info") or head.endswith(".data") or name.endswith("/"):
            continue
        base = PurePosixPath(name).name
        if name.endswith(".py"):
            python_files.append(raw)
            if base == "__init__.py":
                dirs = PurePosixPath(name).parent.parts
                if all(IDENT_RE.match(d) for d in dirs):
                    packages.append(".".join(dirs))
        module = _module_name(name)
        if module is not None:
            extensions.append(module)
        elif base.endswith(".so") or ".so." in base:
            libraries.append(raw)
    return WheelContents(
        project=project,
        extensions=tuple(sorted(set(extensions))),
        packages=tuple(sorted(set(packages))),
        libraries=tuple(sorted(libraries)),
        python_files=tuple(sorted(python_files)),
    )
