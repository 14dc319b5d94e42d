"""Big, valid wheels for memory tests and benchmarks, written a chunk at a time.

A wheel made here holds a package whose `payload.bin` is `size` bytes of pseudo-random data
(incompressible, so the wheel is as big as its payload; stored, not deflated), and a
dist-info whose RECORD hashes every member, so pip installs it as it would any wheel. The
payload is generated and hashed as it is written: making a 1 GB wheel holds 1 MiB at a time.
"""

from __future__ import annotations

import base64
import hashlib
import random
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Final

CHUNK: Final = 1 << 20
TAG: Final = "py3-none-any"


def _record_line(name: str, digest: bytes, size: int) -> str:
    encoded = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    return f"{name},sha256={encoded},{size}"


def make_wheel(
    folder: Path, project: str, size: int, *, version: str = "1.0", requires: Sequence[str] = ()
) -> Path:
    """A wheel of `project` in `folder` whose payload is `size` bytes; its path."""
    name = project.replace("-", "_")
    info = f"{name}-{version}.dist-info"
    small = {
        f"{name}/__init__.py": (
            "import pathlib\n"
            f"PAYLOAD = pathlib.Path(__file__).with_name('payload.bin')\n"
            f"SIZE = {size}\n"
        ),
        f"{info}/METADATA": "\n".join(
            [
                "Metadata-Version: 2.1",
                f"Name: {project}",
                f"Version: {version}",
                *(f"Requires-Dist: {r}" for r in requires),
            ]
        )
        + "\n",
        f"{info}/WHEEL": f"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: {TAG}\n",
    }
    path = folder / f"{name}-{version}-{TAG}.whl"
    generator = random.Random(f"{project}-{version}-{size}")
    record = []
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        payload = f"{name}/payload.bin"
        digest = hashlib.sha256()
        with archive.open(payload, "w", force_zip64=True) as out:
            left = size
            while left:
                chunk = generator.randbytes(min(CHUNK, left))
                digest.update(chunk)
                out.write(chunk)
                left -= len(chunk)
        record.append(_record_line(payload, digest.digest(), size))
        for member, text in small.items():
            data = text.encode()
            archive.writestr(member, data)
            record.append(_record_line(member, hashlib.sha256(data).digest(), len(data)))
        record.append(f"{info}/RECORD,,")
        archive.writestr(f"{info}/RECORD", "\n".join(record) + "\n")
    return path
