"""The file caches under `paths.cache_dir()`: built wheels, wheelhouses and venvs.

Each entry is a folder `<kind>s/<key>` with a marker file that says it is complete; the
marker's mtime is when the entry was last used (written when it is made, touched on every
cache hit). Listing walks the folders without reading any file, so memory stays flat
however large the cache is; removing an entry takes the lock its maker takes, and skips it
while another process holds that lock.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Final

from harness import paths
from harness.common.locking import try_file_lock


class Kind(StrEnum):
    WHEEL = "wheel"
    WHEELHOUSE = "wheelhouse"
    VENV = "venv"


MARKERS: Final = {
    Kind.WHEEL: "wheel.json",
    Kind.WHEELHOUSE: "wheelhouse.json",
    Kind.VENV: ".wheelclash-ready",
}


PARTIAL: Final = ".partial"  # suffix of an entry being made (moved into place when complete)


def folder(kind: Kind) -> Path:
    """Where the entries of one kind live: cache/wheels, cache/wheelhouses, cache/venvs."""
    return paths.cache_dir() / f"{kind}s"


def entry_dir(kind: Kind, key: str) -> Path:
    return folder(kind) / key


def marker(kind: Kind, key: str) -> Path:
    """The file whose presence says the entry is complete, and whose mtime is its last use."""
    return entry_dir(kind, key) / MARKERS[kind]


def lock_name(kind: Kind, key: str) -> str:
    """The `file_lock` its maker holds while making (or reusing) the entry."""
    return f"{kind}-{key}"


def mark_used(kind: Kind, key: str) -> None:
    """Record a use of a complete entry (a cache hit): its marker's mtime becomes now."""
    with contextlib.suppress(OSError):  # a read-only cache still works; only the date stays
        os.utime(marker(kind, key))


@dataclass(frozen=True, kw_only=True)
class Entry:
    kind: Kind
    key: str
    path: Path
    size: int  # bytes on disk, as du counts them
    last_used: float  # epoch seconds: the marker's mtime, else the folder's
    what: str  # the wheel's file name; how many wheels a wheelhouse holds; '' for a venv


def disk_usage(path: Path) -> int:
    """Bytes allocated under `path`, symlinks not followed, each inode counted once."""
    seen: set[tuple[int, int]] = set()
    total = 0
    pending = [path]
    while pending:
        current = pending.pop()
        try:
            info = current.lstat()
        except OSError:
            continue
        if (info.st_dev, info.st_ino) in seen:
            continue
        seen.add((info.st_dev, info.st_ino))
        total += info.st_blocks * 512
        if stat.S_ISDIR(info.st_mode):
            try:
                with os.scandir(current) as children:
                    pending.extend(Path(child.path) for child in children)
            except OSError:
                continue
    return total


def entries() -> Iterator[Entry]:
    """Every entry of every kind, complete or not (a half-made one has no marker)."""
    for kind in Kind:
        try:
            with os.scandir(folder(kind)) as found:
                keys = sorted(e.name for e in found if e.is_dir(follow_symlinks=False))
        except FileNotFoundError:
            continue
        for key in keys:
            path = entry_dir(kind, key)
            try:
                used = marker(kind, key).stat().st_mtime
            except OSError:
                try:
                    used = path.lstat().st_mtime
                except OSError:
                    continue  # removed while we looked
            yield Entry(
                kind=kind,
                key=key,
                path=path,
                size=disk_usage(path),
                last_used=used,
                what=_what(kind, path),
            )


def _what(kind: Kind, path: Path) -> str:
    """A word on the entry from its file names (no file is read)."""
    if kind is Kind.VENV:
        return ""
    try:
        with os.scandir(path) as found:
            wheels = sorted(e.name for e in found if e.name.endswith(".whl"))
    except OSError:
        return ""
    if kind is Kind.WHEEL:
        return wheels[0] if wheels else "(no wheel)"
    return f"{len(wheels)} wheel(s)"


def remove(entry: Entry) -> bool:
    """Remove the entry under its maker's lock; False while another process holds that lock."""
    key = entry.key.removesuffix(PARTIAL)  # a half-made entry is under its maker's lock too
    with try_file_lock(lock_name(entry.kind, key)) as free:
        if not free:
            return False
        shutil.rmtree(entry.path, ignore_errors=True)
        return not entry.path.exists()
