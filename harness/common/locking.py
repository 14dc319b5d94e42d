"""Machine-wide exclusive locks, so parallel processes (pytest-xdist workers) share caches."""

from __future__ import annotations

import fcntl
import hashlib
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from harness import paths

logger = logging.getLogger(__name__)


def _lock_path(name: str) -> Path:
    lock_dir = paths.cache_dir() / "locks"
    lock_dir.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
    if safe != name:
        safe += "-" + hashlib.sha256(name.encode()).hexdigest()[:8]
    return lock_dir / f"{safe}.lock"


@contextmanager
def try_file_lock(name: str) -> Iterator[bool]:
    """The lock of `file_lock` when it is free (True), without waiting; False while another
    process holds it (and then nothing is held)."""
    with _lock_path(name).open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def file_lock(name: str) -> Iterator[None]:
    """An exclusive `flock` on cache/locks/<name>.lock; says so when it has to wait."""
    with _lock_path(name).open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            logger.info("waiting for another process holding %s", name)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
