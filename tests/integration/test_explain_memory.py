"""Explaining a wheel whose library exports hundreds of thousands of long names keeps the
controller small, from a cold scan cache and from a warm one: names are read one part at a
time and only those a predictor reads are kept (seen: tensorflow-cpu's libtensorflow_cc.so.2
exports 435,807 names; explaining it next to jaxlib peaked at 347 MiB)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

NAMES = 200_000
NAME = "_ZN9wheelclash7fixture{:06d}" + "k" * 180 + "Ev"  # 200 characters, as C++ names run
MEASURE = """
import json, sys
from pathlib import Path

def peak():
    # this process's own peak since exec (VmHWM, KiB): ru_maxrss would also count the
    # process it was forked from (a pytest worker, maybe bigger than this one's peak)
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))

from harness.analysis.explain import explain
before = peak()
found = explain([("big", Path(sys.argv[1]))])
after = peak()
print(json.dumps({"growth_kib": after - before, "findings": [f.detail for f in found]}))
"""


def library(folder: Path) -> Path:
    """A shared library exporting NAMES functions, assembled (compiling C would take minutes);
    one is a GNU-unique object, which explain must still find among them."""
    source = folder / "many.s"
    with source.open("w") as out:
        out.write(".text\n")
        for number in range(NAMES):
            name = NAME.format(number)
            out.write(f".globl {name}\n.type {name},@function\n{name}:\nret\n")
        unique = "_ZZN9wheelclash4onceEvE1x"  # a function's static local: GNU-unique
        out.write(
            f'.section .bss.{unique},"awG",@nobits,{unique},comdat\n'
            f".type {unique},@gnu_unique_object\n.globl {unique}\n{unique}:\n"
            f".zero 8\n.size {unique},8\n"
        )
    built = folder / "libmany.so.1"
    subprocess.run(
        ["gcc", "-shared", "-nostdlib", "-Wl,-soname,libmany.so.1", "-o", built, source],
        check=True,
    )
    source.unlink()
    return built


def explained(wheel: Path, cache: Path) -> dict[str, object]:
    run = subprocess.run(
        [sys.executable, "-c", MEASURE, str(wheel)],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin", "WHEELCLASH_CACHE": str(cache)},
    )
    found: dict[str, object] = json.loads(run.stdout)
    return found


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc to assemble the library")
def test_a_library_of_200k_long_names_is_explained_in_little_memory(tmp_path: Path) -> None:
    built = library(tmp_path)
    wheel = tmp_path / "big-1.0-cp311-cp311-linux_x86_64.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(built, "big.libs/libmany.so.1")
        archive.writestr("big-1.0.dist-info/RECORD", "")
    built.unlink()
    cache = tmp_path / "cache"
    cold = explained(wheel, cache)
    warm = explained(wheel, cache)
    for found in (cold, warm):
        # the one GNU-unique name among 200,001 was found
        assert "libmany.so.1: 1 STB_GNU_UNIQUE symbols" in str(found["findings"]), found
    # The names are 40 MB. Holding them all (the JSON line, a string and an object per name)
    # grew a warm read by 114 MiB, a cold one by 112 MiB; measured since: 1 and 25 MiB.
    assert int(warm["growth_kib"]) < 32 * 1024, warm
    # A cold scan reads the names once, from the string table in windows, and writes them.
    assert int(cold["growth_kib"]) < 80 * 1024, cold
