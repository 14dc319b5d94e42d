"""A built wheel's provenance: read from its ELF files, and written into its own metadata."""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import shutil
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from harness.common.process import run_logged

STAMP_NAME: Final = "wheelclash.json"
CHUNK: Final = 1 << 20  # a member is copied out in pieces of this size, never read whole


def elf_comment(wheel: Path) -> str:
    """The `.comment` section (the compilers that made it) of the wheel's first extension.
    Worked out once per file (by path, size and modification time)."""
    stat = wheel.stat()
    return _elf_comment(wheel.resolve(), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=256)
def _elf_comment(wheel: Path, size: int, mtime_ns: int) -> str:
    with zipfile.ZipFile(wheel) as archive:
        names = [n for n in archive.namelist() if n.endswith(".so") or ".so." in n]
        if not names:
            return ""
        with tempfile.TemporaryDirectory(prefix="wheelclash-elf-") as tmp:
            target = Path(tmp) / "ext.so"
            # Streamed: one extension of a big wheel is hundreds of MB (tensorflow-cpu's).
            with archive.open(sorted(names)[0]) as member, target.open("wb") as out:
                shutil.copyfileobj(member, out, CHUNK)
            done = run_logged(["readelf", "-p", ".comment", str(target)])
    lines = [line.split("]", 1)[1].strip() for line in done.stdout.splitlines() if "]" in line]
    return "; ".join(dict.fromkeys(line for line in lines if line))


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return f"sha256={digest.decode()}"


def stamp(wheel: Path, provenance: Mapping[str, Any]) -> None:
    """Add `<name>.dist-info/wheelclash.json` to the wheel, with its line in RECORD."""
    with zipfile.ZipFile(wheel) as archive:
        entries = [(info, archive.read(info.filename)) for info in archive.infolist()]
    record_name = next(i.filename for i, _ in entries if i.filename.endswith(".dist-info/RECORD"))
    stamp_name = record_name.rsplit("/", 1)[0] + "/" + STAMP_NAME
    data = (json.dumps(dict(provenance), indent=2, sort_keys=True) + "\n").encode()
    line = f"{stamp_name},{_record_hash(data)},{len(data)}\n"
    partial = wheel.with_suffix(".partial")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as out:
        for info, content in entries:
            if info.filename == stamp_name:
                continue
            if info.filename == record_name:
                out.writestr(stamp_name, data)
                content = content + line.encode()
            out.writestr(info, content)
    partial.replace(wheel)


def read_stamp(wheel: Path) -> dict[str, Any]:
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(f".dist-info/{STAMP_NAME}"))
        value: dict[str, Any] = json.loads(archive.read(name))
    return value
