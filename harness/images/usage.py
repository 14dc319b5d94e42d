"""When each of wheelclash's images was last used.

The engine does not say when an image was last used, so wheelclash records it: every time an
image is resolved for a run or a build, the file `<cache>/image-uses/<image id>` is touched,
and its mtime is the image's last use. An image with no record (made before records were
kept, or by another cache dir) counts as last used when it was created or last tagged.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Final

from harness import paths

USES: Final = "image-uses"


def _record(image_id: str) -> Path:
    return paths.cache_dir() / USES / image_id.removeprefix("sha256:")


def record(image_id: str) -> None:
    """Note that the image is being used now (best effort: a read-only cache only loses it)."""
    path = _record(image_id)
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
        os.utime(path)


def forget(image_id: str) -> None:
    _record(image_id).unlink(missing_ok=True)


def recorded_use(image_id: str) -> float | None:
    """Epoch seconds of the image's last recorded use, or None when none is recorded."""
    try:
        return _record(image_id).stat().st_mtime
    except OSError:
        return None
