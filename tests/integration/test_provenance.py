"""A wheel's ELF comment is read without holding its extension in memory (readelf runs)."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import psutil

from harness.build.provenance import elf_comment

BIG = 256 << 20  # the extension's size: zeros after a real ELF file, so the wheel stays small
CHUNK = 1 << 20
# The peak is this process's own (VmHWM, of its memory since exec): ru_maxrss would also
# count the RSS of the process it was forked from, a pytest worker that may be bigger than
# the bound.
MEASURE = """
import json, sys
from pathlib import Path
from harness.build.provenance import elf_comment
comment = elf_comment(Path(sys.argv[1]))
with open("/proc/self/status") as status:
    hwm = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
print(json.dumps([comment, hwm * 1024]))
"""


def real_extension() -> Path:
    """An extension module with a `.comment` section: psutil's, which the project installs."""
    return next(Path(psutil.__file__).parent.glob("_psutil_linux*.so"))


def big_wheel(folder: Path) -> Path:
    wheel = folder / "big-1.0-cp311-cp311-linux_x86_64.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("big-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\n")
        with archive.open("big/_ext.so", "w", force_zip64=True) as member:
            member.write(real_extension().read_bytes())
            zeros = bytes(CHUNK)
            for _ in range(BIG // CHUNK):
                member.write(zeros)
    return wheel


def test_the_comment_of_a_big_extension_is_read_in_bounded_memory(tmp_path: Path) -> None:
    wheel = big_wheel(tmp_path)
    assert wheel.stat().st_size < BIG // 100  # it is the member that is big, not the file
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, str(wheel)],
        capture_output=True,
        text=True,
        check=True,
    )
    comment, peak = json.loads(done.stdout)
    assert comment.startswith("GCC: ")
    assert peak < BIG // 2, f"peak RSS {peak >> 20} MiB for a {BIG >> 20} MiB extension"


def test_the_comment_is_worked_out_once_per_file(tmp_path: Path) -> None:
    wheel = tmp_path / "small-1.0-cp311-cp311-linux_x86_64.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.write(real_extension(), "small/_ext.so")
    first = elf_comment(wheel)
    assert first.startswith("GCC: ")
    with zipfile.ZipFile(wheel, "w") as archive:  # a new file: new size and mtime
        archive.writestr("small/_ext.so", b"not an ELF file at all")
    assert elf_comment(wheel) == ""
