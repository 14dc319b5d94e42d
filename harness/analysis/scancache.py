"""The scan cache: a wheel file's static facts (analysis/wheelscan.py), keyed by the file's
sha256, so that a run's finish, `explain`, `report`, attribution and the next run read each
wheel once.

An entry is `<cache>/scans/<sha256>.json.gz`: a first JSON line with the cache version, the
sha256, the wheel's file name, its extension modules, its Python hits and its count of ELF
files, then one JSON line per ELF file (so reading an entry back holds one file's names at a
time, never the whole text). The newest `KEEP` entries stay, least recently used first out;
a hit touches the entry's mtime. An entry that cannot be read, or of another version, is
scanned again and rewritten; a cache that cannot be written only costs the next scan.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import logging
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from harness import paths
from harness.analysis.wheelscan import WheelScan, elf_from_json, elf_to_json, scan

logger = logging.getLogger(__name__)

# Bump when ElfFacts, WheelScan, this format or what the scan reads changes: older entries
# are then scanned again.
VERSION: Final = 1
KEEP: Final = 64  # wheel files whose facts stay cached
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


def _read(path: Path, sha256: str) -> WheelScan | None:
    with gzip.open(path, "rt", encoding="utf-8") as stream:
        header = json.loads(stream.readline())
        if header.get("version") != VERSION or header.get("sha256") != sha256:
            return None
        elves = tuple(elf_from_json(json.loads(line)) for line in stream)
        if len(elves) != header["elves"]:
            raise ValueError(f"{len(elves)} ELF files of {header['elves']}")
        return WheelScan(
            elves=elves,
            modules=frozenset(str(m) for m in header["modules"]),
            python_hits=tuple(str(h) for h in header["python_hits"]),
        )


def load(sha256: str) -> WheelScan | None:
    """The cached facts of the wheel file with this sha256, or None (absent, of another
    version, or unreadable)."""
    path = entry(sha256)
    try:
        found = _read(path, sha256)
    except FileNotFoundError:
        return None
    except UNREADABLE as exc:
        logger.info("scan cache entry %s is unreadable (%s); scanning the wheel again", path, exc)
        return None
    if found is not None:
        with contextlib.suppress(OSError):  # a read-only cache still works; only LRU is off
            os.utime(path)
    return found


def store(sha256: str, wheel: str, facts: WheelScan) -> None:
    """Write the entry (atomically: another process reads the old entry or the new one),
    then keep the newest `KEEP` entries."""
    path = entry(sha256)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    header = {
        "version": VERSION,
        "sha256": sha256,
        "wheel": wheel,
        "modules": sorted(facts.modules),
        "python_hits": list(facts.python_hits),
        "elves": len(facts.elves),
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with gzip.open(partial, "wt", encoding="utf-8", compresslevel=1) as stream:
            stream.write(json.dumps(header) + "\n")
            for elf in facts.elves:
                json.dump(elf_to_json(elf), stream)  # in chunks: no whole line in memory
                stream.write("\n")
        os.replace(partial, path)
    except OSError as exc:
        logger.warning("could not write the scan cache entry %s (%s)", path, exc)
        with contextlib.suppress(OSError):
            partial.unlink()
        return
    evict()


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


def scanned(path: Path, sha256: str) -> WheelScan:
    """The facts of a wheel file: from the cache, else scanned and cached."""
    found = load(sha256)
    if found is None:
        found = scan(path)
        store(sha256, path.name, found)
    return found
