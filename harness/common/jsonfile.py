"""Small JSON files that a cache keeps: written whole or not at all."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any


def write_kept(path: Path, document: Any) -> None:
    """Write `document` to `path` through a partial file moved into place, so a reader never
    sees half of it. Best effort: where the cache cannot be written, nothing is kept."""
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, partial = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".partial")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump(document, out)
            os.replace(partial, path)
        finally:
            Path(partial).unlink(missing_ok=True)
