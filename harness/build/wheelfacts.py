"""What a run reads from each given wheel, kept between runs: the modules its cells import
(scenario/user_imports.py) and its first extension's `.comment` (build/provenance.py).

Both are worked out from the wheel's bytes alone, by the harness's own code, and a run needs
them for every wheel before its first cell: for the atlas's wheels, reading their sources and
extracting an extension took most of a second per dozen wheels, every run. So they are kept in
`<cache>/wheel-facts/<sha256>-<code>.json`, where `code` is a hash of the harness's Python
files: another wheel, or another version of the harness, works them out again. A file that
cannot be read or parsed is worked out again too; each hit touches it, and `wheelclash cache
prune` removes those unused for its `--older-than`.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from harness import paths
from harness.build.provenance import elf_comment
from harness.common.jsonfile import write_kept
from harness.scenario.user_imports import imports_for

FOLDER: Final = "wheel-facts"
HARNESS: Final = Path(__file__).resolve().parents[1]


@dataclass(frozen=True, kw_only=True)
class WheelFacts:
    imports: tuple[str, ...]
    elf_comment: str


@functools.cache
def code_hash() -> str:
    """A hash of every Python file of the harness, names and bytes."""
    digest = hashlib.sha256()
    for path in sorted(HARNESS.rglob("*.py")):
        digest.update(str(path.relative_to(HARNESS)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def _path(sha256: str) -> Path:
    return paths.cache_dir() / FOLDER / f"{sha256}-{code_hash()}.json"


def facts(wheel: Path, sha256: str) -> WheelFacts:
    """The wheel's facts: kept ones for its sha256, else worked out now and kept."""
    path = _path(sha256)
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
        kept = WheelFacts(
            imports=tuple(str(i) for i in found["imports"]),
            elf_comment=str(found["elf_comment"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        pass
    else:
        with contextlib.suppress(OSError):
            os.utime(path)
        return kept
    made = WheelFacts(imports=imports_for(wheel), elf_comment=elf_comment(wheel))
    write_kept(path, {"imports": list(made.imports), "elf_comment": made.elf_comment})
    return made


def stored() -> Iterator[tuple[Path, float]]:
    """Each kept file and its last use (epoch seconds)."""
    with contextlib.suppress(OSError), os.scandir(paths.cache_dir() / FOLDER) as found:
        for entry in list(found):
            with contextlib.suppress(OSError):
                yield Path(entry.path), entry.stat().st_mtime
