"""The sha256 of a file, read once per version of the file in this process.

A run asks for the hashes of its wheels and wheelhouse files in several places (a given
wheel's provenance, a downloaded wheelhouse's manifest, an environment's reuse key) and once
per group that installs them: the same multi-gigabyte wheelhouse for every target of a
scenario. Here a file is read only the first time; later asks are answered from memory
while the file's device, inode, size and modification and change times are those it had.
A file written since (even with the same size and mtime, which a rewrite changes the ctime
of) is read again. Two threads asking for one file at once read it once.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from pathlib import Path
from typing import Final

logger = logging.getLogger(__name__)

BLOCK: Final = 1 << 20  # read at a time: memory stays flat for any size

# (st_dev, st_ino, st_size, st_mtime_ns, st_ctime_ns): one version of one file.
_Version = tuple[int, int, int, int, int]

_guard = threading.Lock()
_known: dict[_Version, str] = {}
_reading: dict[_Version, threading.Lock] = {}


def file_sha256(path: Path) -> str:
    """The hex sha256 of the file at `path` (OSError when it cannot be read)."""
    found = path.stat()
    version = (found.st_dev, found.st_ino, found.st_size, found.st_mtime_ns, found.st_ctime_ns)
    with _guard:
        if version in _known:
            return _known[version]
        reading = _reading.setdefault(version, threading.Lock())
    with reading:  # a second asker waits here for the first's answer
        with _guard:
            if version in _known:
                return _known[version]
        digest = _read(path)
        with _guard:
            _known[version] = digest
            _reading.pop(version, None)
    return digest


def _read(path: Path) -> str:
    logger.debug("sha256 of %s: reading it", path)
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(BLOCK):
            digest.update(block)
    return digest.hexdigest()
