"""One wheel file's static facts: its ELF files, which of them are extension modules, and the
Python lines that change dlopen flags. Read by streaming the archive's members (never a whole
member in memory), and written to and read from JSON for the scan cache (analysis/scancache.py).
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from harness.analysis.elfscan import ElfFacts, Exported, Named, iter_wheel, with_names
from harness.errors import InputError
from harness.scenario.wheel_contents import read_contents

DLOPEN_RE: Final = re.compile(rb"setdlopenflags|RTLD_GLOBAL")


@dataclass(frozen=True, kw_only=True)
class WheelScan:
    elves: tuple[ElfFacts, ...]
    modules: frozenset[str]  # archive paths of extension modules
    python_hits: tuple[str, ...]  # "path:line" of setdlopenflags / RTLD_GLOBAL in Python code


def _python_hits(path: Path, python_files: tuple[str, ...]) -> Iterator[str]:
    """Where a Python source calls setdlopenflags or names RTLD_GLOBAL, line by line from the
    member's stream."""
    try:
        with zipfile.ZipFile(path) as archive:
            for name in python_files:
                with archive.open(name) as stream:
                    for number, line in enumerate(stream, 1):
                        if DLOPEN_RE.search(line) and not line.lstrip().startswith(b"#"):
                            yield f"{name}:{number}"
    except (OSError, zipfile.BadZipFile) as exc:
        raise InputError(f"{path}: not a readable wheel ({exc}); pass a .whl file") from exc


@dataclass(frozen=True, kw_only=True)
class Streamed:
    """A wheel's facts with its ELF files still to be read, one at a time, each with its
    exported names to be read before the next file (elfscan.Named)."""

    libraries: frozenset[str]  # archive paths of bundled libraries (not extension modules)
    python_hits: tuple[str, ...]
    files: Iterator[Named]


def stream(path: Path) -> Streamed:
    """The facts of one wheel file, its ELF files read as `files` is iterated (InputError
    naming the file when it cannot be read)."""
    contents = read_contents(path)
    libraries = frozenset(contents.libraries)
    return Streamed(
        libraries=libraries,
        python_hits=tuple(_python_hits(path, contents.python_files)),
        files=iter_wheel(path, skip_relocations=libraries),
    )


def scan(path: Path) -> WheelScan:
    """The facts of one wheel file, all held (InputError naming the file when it cannot be
    read)."""
    streamed = stream(path)
    elves = tuple(with_names(facts, names) for facts, names in streamed.files)
    return WheelScan(
        elves=elves,
        modules=frozenset(e.path for e in elves if e.path not in streamed.libraries),
        python_hits=streamed.python_hits,
    )


def elf_to_json(elf: ElfFacts) -> dict[str, Any]:
    """One ELF file's facts: `head_to_json` and `names_to_json` in one document."""
    return head_to_json(elf) | names_to_json(elf.exported)


def head_to_json(elf: ElfFacts) -> dict[str, Any]:
    """One ELF file's facts but its exported names."""
    return {
        "path": elf.path,
        "soname": elf.soname,
        "needed": list(elf.needed),
        "rpath": elf.rpath,
        "runpath": elf.runpath,
        "static_tls": elf.static_tls,
        "tls_size": elf.tls_size,
        "relocated": sorted(elf.relocated),
        "comment": list(elf.comment),
        "arch": elf.arch,
    }


def names_to_json(exported: Sequence[Exported]) -> dict[str, Any]:
    """Exported names as columns (`names`, `sizes`, and `binds` and `kinds` as indices into
    `words`): reading them back then makes no object per name beyond the name itself and its
    size."""
    words: dict[str, int] = {}
    return {
        "names": [e.name for e in exported],
        "binds": [words.setdefault(e.bind, len(words)) for e in exported],
        "kinds": [words.setdefault(e.kind, len(words)) for e in exported],
        "sizes": [e.size for e in exported],
        "words": list(words),
    }


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, found {value!r}")
    return value


def _number(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected a whole number, found {value!r}")
    return value


def elf_from_json(doc: dict[str, Any]) -> ElfFacts:
    """The inverse of elf_to_json; TypeError, ValueError or KeyError when `doc` is not one."""
    return with_names(head_from_json(doc), names_from_json(doc))


def names_from_json(doc: dict[str, Any]) -> list[Exported]:
    """The inverse of names_to_json; TypeError, ValueError or KeyError when `doc` is not one."""
    words = [_text(word) for word in doc["words"]]
    names, binds, kinds, sizes = doc["names"], doc["binds"], doc["kinds"], doc["sizes"]
    if not len(names) == len(binds) == len(kinds) == len(sizes):
        raise ValueError("names, binds, kinds and sizes differ in length")
    exported: list[Exported] = []
    for name, bind, kind, size in zip(names, binds, kinds, sizes, strict=True):
        # Checked inline, not by _text and _number: a big library has 10⁵ names.
        if type(name) is not str or type(size) is not int:
            raise TypeError(f"exported: {name!r} of size {size!r} is not a name and a size")
        exported.append(Exported(name=name, bind=words[bind], kind=words[kind], size=size))
    return exported


def head_from_json(doc: dict[str, Any]) -> ElfFacts:
    """The inverse of head_to_json; TypeError, ValueError or KeyError when `doc` is not one."""
    static_tls = doc["static_tls"]
    if not isinstance(static_tls, bool):
        raise TypeError(f"static_tls: expected true or false, found {static_tls!r}")
    return ElfFacts(
        path=_text(doc["path"]),
        soname=_text(doc["soname"]),
        needed=tuple(map(_text, doc["needed"])),
        rpath=_text(doc["rpath"]),
        runpath=_text(doc["runpath"]),
        static_tls=static_tls,
        tls_size=_number(doc["tls_size"]),
        relocated=frozenset(map(_text, doc["relocated"])),
        comment=tuple(map(_text, doc["comment"])),
        arch=_text(doc["arch"]),
    )
