"""Scanning a wheel keeps the controller's memory flat: a member of 200 MB (a real shared
object padded with zeros) is streamed to a temporary file, never read whole."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

PADDING = 200 * 2**20
LIBRARY = next(
    (
        d / "libstdc++.so.6"
        for d in (Path("/usr/lib/x86_64-linux-gnu"), Path("/lib/x86_64-linux-gnu"))
        if (d / "libstdc++.so.6").is_file()
    ),
    None,
)
PROBE = """
import json, sys
from pathlib import Path

def peak():
    # this process's own peak since exec (VmHWM, KiB): ru_maxrss would also count the
    # process it was forked from (a pytest worker, maybe bigger than this one's peak)
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))

from harness.analysis.wheelscan import scan
before = peak()
facts = scan(Path(sys.argv[1]))
after = peak()
print(json.dumps({"growth_kb": after - before, "exported": len(facts.elves[0].exported)}))
"""


@pytest.mark.skipif(LIBRARY is None, reason="no libstdc++.so.6 on this machine")
def test_a_200_mb_member_does_not_grow_rss(tmp_path: Path) -> None:
    assert LIBRARY is not None
    padded = tmp_path / "libbig.so"
    with padded.open("wb") as out:
        out.write(LIBRARY.resolve().read_bytes())
        out.truncate(out.tell() + PADDING)
    wheel = tmp_path / "big-1.0-cp311-cp311-linux_x86_64.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(padded, "big.libs/libbig.so")
        archive.writestr("big-1.0.dist-info/RECORD", "")
    padded.unlink()
    run = subprocess.run(
        [sys.executable, "-c", PROBE, str(wheel)], capture_output=True, text=True, check=True
    )
    found = json.loads(run.stdout)
    assert found["exported"] > 1000  # the object was read
    assert found["growth_kb"] < 60 * 1024, found  # far below the member's 200 MB
