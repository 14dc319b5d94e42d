"""The target facts of an image, kept between runs.

What `resources/target_facts.py` prints in a container (the Python, glibc and libstdc++
versions, the wheel tags its pip accepts) belongs to the image: an image id names its
content, so the same id always gives the same facts. The first container of an image reads
them (an interpreter importing pip's tags: most of a second on a slow storage driver) and
they are kept in `<cache>/image-facts/<image id>-<script hash>.json`; a changed script reads
them again. A file that cannot be read or parsed is read again from a container, and
`wheelclash cache prune` removes those of images no longer on the engine.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Final

from harness import paths
from harness.common.jsonfile import write_kept

FOLDER: Final = "image-facts"


@functools.cache
def _script_hash() -> str:
    return hashlib.sha256(paths.TARGET_FACTS.read_bytes()).hexdigest()[:12]


def _path(image_id: str) -> Path:
    image = image_id.removeprefix("sha256:")
    return paths.cache_dir() / FOLDER / f"{image}-{_script_hash()}.json"


def read(image_id: str) -> dict[str, Any] | None:
    """The facts kept for the image, or None."""
    try:
        found = json.loads(_path(image_id).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def write(image_id: str, facts: dict[str, Any]) -> None:
    """Keep the image's facts (best effort: a read-only cache only reads them again)."""
    write_kept(_path(image_id), facts)


def forget_others(image_ids: set[str]) -> int:
    """Remove the facts kept for images other than these (no longer on the engine); how many."""
    keep = {i.removeprefix("sha256:") for i in image_ids}
    removed = 0
    with contextlib.suppress(OSError), os.scandir(paths.cache_dir() / FOLDER) as found:
        for entry in list(found):
            if entry.name.rsplit("-", 1)[0] not in keep:
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)
                    removed += 1
    return removed
