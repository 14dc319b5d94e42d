"""The scan cache: a wheel file's static facts (analysis/wheelscan.py), keyed by the file's
sha256, so that a run's finish, `explain`, `report`, attribution and the next run read each
wheel once.

An entry is `<cache>/scans/<sha256>.json.gz`: a first JSON line with the cache version, the
sha256, the wheel's file name, its extension modules, its Python hits and its count of ELF
files. Then, per ELF file, a line of its facts but its exported names, lines of up to `PART`
names each (as columns, wheelscan.names_to_json), and a line `[]` that ends them. A reader
can so keep what it needs of a library's names part by part and never hold them all (one
library of tensorflow-cpu exports 435,807 names, 83 MB of JSON). The newest `KEEP` entries
stay, least recently used first out; a hit touches the entry's mtime. An entry that cannot be
read, or of another version, is scanned again and rewritten; a cache that cannot be written
only costs the next scan.
"""

from __future__ import annotations

import contextlib
import gzip
import itertools
import json
import logging
import os
import shutil
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final, TypeVar

from harness import paths
from harness.analysis.elfscan import Exported, Named, is_library_name, with_names
from harness.analysis.wheelscan import (
    WheelScan,
    head_from_json,
    head_to_json,
    names_from_json,
    names_to_json,
)
from harness.analysis.wheelscan import stream as stream_wheel

logger = logging.getLogger(__name__)
T = TypeVar("T")

# Bump when ElfFacts, WheelScan, this format or what the scan reads changes: older entries
# are then scanned again.
VERSION: Final = 2
KEEP: Final = 64  # wheel files whose facts stay cached
PART: Final = 4096  # exported names per line
SUFFIX: Final = ".json.gz"
UNREADABLE: Final = (OSError, EOFError, zlib.error, ValueError, TypeError, KeyError, AttributeError)


@dataclass(frozen=True, kw_only=True)
class Stored:
    """One entry as `wheelclash cache list` shows it (no file read)."""

    sha256: str
    path: Path
    size: int  # bytes on disk
    last_used: float  # the entry's mtime: written when stored, touched on each hit


def folder() -> Path:
    return paths.cache_dir() / "scans"


def entry(sha256: str) -> Path:
    return folder() / f"{sha256}{SUFFIX}"


def store(sha256: str, wheel: str, facts: WheelScan) -> None:
    """Write the entry of facts already held (see `_write`)."""
    files = (((e, iter(e.exported)), e.path in facts.modules) for e in facts.elves)
    _write(sha256, wheel, facts.python_hits, files)


def _write(
    sha256: str, wheel: str, python_hits: tuple[str, ...], files: Iterable[tuple[Named, bool]]
) -> bool:
    """Write the entry from (ELF file with its names, is an extension module), taken one at
    a time, atomically (another process reads the old entry or the new one), then keep the
    newest `KEEP` entries; False when it could not be written.

    The ELF lines go to a spool first, as one gzip member; the header, which counts them, is
    then written as a member of its own, followed by the spool's bytes (gzip reads
    concatenated members as one stream)."""
    path = entry(sha256)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    spool = partial.with_name(partial.name + ".elves")
    modules: list[str] = []
    count = 0
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with gzip.open(spool, "wt", encoding="utf-8", compresslevel=1) as lines:
            for (facts, names), module in files:
                lines.write(json.dumps(head_to_json(facts)) + "\n")
                for part in _parts(names):
                    lines.write(json.dumps(names_to_json(part)) + "\n")
                lines.write("[]\n")
                count += 1
                if module:
                    modules.append(facts.path)
        header = {
            "version": VERSION,
            "sha256": sha256,
            "wheel": wheel,
            "modules": sorted(modules),
            "python_hits": list(python_hits),
            "elves": count,
        }
        with partial.open("wb") as out, spool.open("rb") as body:
            out.write(gzip.compress((json.dumps(header) + "\n").encode(), compresslevel=1))
            shutil.copyfileobj(body, out)
        os.replace(partial, path)
    except OSError as exc:
        logger.warning("could not write the scan cache entry %s (%s)", path, exc)
        with contextlib.suppress(OSError):
            partial.unlink()
        return False
    finally:
        with contextlib.suppress(OSError):
            spool.unlink()
    evict()
    return True


def _parts(names: Iterator[Exported]) -> Iterator[tuple[Exported, ...]]:
    while part := tuple(itertools.islice(names, PART)):
        yield part


class Damaged(ValueError):
    """A cache entry whose header was sound went bad while its ELF lines were read (it has
    been removed: reading it again scans the wheel)."""


@dataclass(frozen=True, kw_only=True)
class Opened:
    """A wheel's facts with its ELF files still to be read, one at a time, each with its
    exported names to be read before the next file is asked for."""

    modules: frozenset[str]
    python_hits: tuple[str, ...]
    files: Iterator[Named]


def _damaged(path: Path, exc: Exception) -> Damaged:
    with contextlib.suppress(OSError):
        path.unlink()
    return Damaged(f"scan cache entry {path} is damaged ({exc}); it was removed")


def _names(stream: IO[str], path: Path) -> Iterator[Exported]:
    """One file's names, part by part, up to the `[]` that ends them."""
    try:
        while (doc := json.loads(stream.readline())) != []:
            yield from names_from_json(doc)
    except UNREADABLE as exc:
        raise _damaged(path, exc) from exc


def _files(stream: IO[str], path: Path, count: int) -> Iterator[Named]:
    with stream:
        read = 0
        try:
            while line := stream.readline():
                names = _names(stream, path)
                yield head_from_json(json.loads(line)), names
                for _ in names:  # what the reader left
                    pass
                read += 1
            if read != count:
                raise ValueError(f"{read} ELF files of {count}")
        except Damaged:
            raise
        except UNREADABLE as exc:
            raise _damaged(path, exc) from exc


def _open(sha256: str) -> Opened | None:
    path = entry(sha256)
    try:
        stream = gzip.open(path, "rt", encoding="utf-8")  # noqa: SIM115 (_files closes it)
    except OSError:
        return None
    try:
        header: dict[str, Any] = json.loads(stream.readline())
        if header.get("version") != VERSION or header.get("sha256") != sha256:
            stream.close()
            return None
        opened = Opened(
            modules=frozenset(str(m) for m in header["modules"]),
            python_hits=tuple(str(h) for h in header["python_hits"]),
            files=_files(stream, path, int(header["elves"])),
        )
    except UNREADABLE as exc:
        stream.close()
        logger.info("scan cache entry %s is unreadable (%s); scanning the wheel again", path, exc)
        return None
    with contextlib.suppress(OSError):
        os.utime(path)
    return opened


def load(sha256: str) -> WheelScan | None:
    """The cached facts of the wheel file with this sha256, all held, or None (absent, of
    another version, or unreadable)."""
    opened = _open(sha256)
    if opened is None:
        return None
    try:
        elves = tuple(with_names(facts, names) for facts, names in opened.files)
    except UNREADABLE as exc:
        logger.info("%s; scanning the wheel again", exc)
        return None
    return WheelScan(elves=elves, modules=opened.modules, python_hits=opened.python_hits)


def read(path: Path, sha256: str) -> Opened:
    """The facts of a wheel file with its ELF files and their names read one at a time, so
    that a reader keeping only what it needs never holds a big library's names at once:
    from the cache, else scanned into the cache (one file at a time) and read back. Reading
    the files raises Damaged when the entry goes bad on the way; read again then."""
    found = _open(sha256)
    if found is not None:
        return found
    streamed = stream_wheel(path)
    files = ((named, named[0].path not in streamed.libraries) for named in streamed.files)
    if _write(sha256, path.name, streamed.python_hits, files):
        found = _open(sha256)
        if found is not None:
            return found
    # The cache cannot be written (or read back): read the wheel itself as it is iterated.
    # Its extension modules are its ELF-named members other than its bundled libraries.
    again = stream_wheel(path)
    try:
        with zipfile.ZipFile(path) as archive:
            named = {n for n in archive.namelist() if is_library_name(n)}
    except (OSError, zipfile.BadZipFile):
        named = set()
    return Opened(
        modules=frozenset(named - again.libraries), python_hits=again.python_hits, files=again.files
    )


def evict(keep: int = KEEP) -> list[Path]:
    """Remove all but the `keep` most recently used entries; the files removed."""
    found: list[tuple[float, Path]] = []
    try:
        with os.scandir(folder()) as listing:
            for item in listing:
                if item.name.endswith(SUFFIX) and not item.name.startswith("."):
                    with contextlib.suppress(OSError):
                        found.append((item.stat().st_mtime, Path(item.path)))
    except OSError:
        return []
    removed = []
    for _, path in sorted(found, reverse=True)[keep:]:
        with contextlib.suppress(OSError):
            path.unlink()
            removed.append(path)
    return removed


def stored() -> Iterator[Stored]:
    """The complete entries, oldest use first (a half-written `.partial` is not one)."""
    found = []
    try:
        with os.scandir(folder()) as listing:
            for item in listing:
                if not item.name.endswith(SUFFIX) or item.name.startswith("."):
                    continue
                with contextlib.suppress(OSError):  # removed while we looked
                    info = item.stat(follow_symlinks=False)
                    found.append(
                        Stored(
                            sha256=item.name.removesuffix(SUFFIX),
                            path=Path(item.path),
                            size=info.st_blocks * 512,
                            last_used=info.st_mtime,
                        )
                    )
    except OSError:
        return
    yield from sorted(found, key=lambda e: e.last_used)


def remove(entry: Stored) -> bool:
    """Remove one entry. A reader that has it open reads on (it was replaced atomically when
    written), and the next lookup scans the wheel again."""
    try:
        entry.path.unlink()
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return True


def read_with(path: Path, sha256: str, use: Callable[[Opened], T]) -> T:
    """`use(read(path, sha256))`; once more when the cache entry went bad while `use` read
    its files (Damaged: the entry is removed, so the second read scans the wheel again)."""
    try:
        return use(read(path, sha256))
    except Damaged as exc:
        logger.info("%s; scanning the wheel again", exc)
        return use(read(path, sha256))


def scanned(path: Path, sha256: str) -> WheelScan:
    """The facts of a wheel file, all held: from the cache, else scanned and cached."""
    found = load(sha256)
    if found is not None:
        return found

    def held(opened: Opened) -> WheelScan:
        elves = tuple(with_names(facts, names) for facts, names in opened.files)
        return WheelScan(elves=elves, modules=opened.modules, python_hits=opened.python_hits)

    return read_with(path, sha256, held)
