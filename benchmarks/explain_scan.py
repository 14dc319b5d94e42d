"""The explain scan of big wheels, before and after: time and peak RSS, as ratios.

    .venv/bin/python benchmarks/explain_scan.py WHEEL [WHEEL ...]

Each way runs in its own fresh interpreter (so ru_maxrss is that way's own peak):
- before: every ELF member read whole into memory, .dynsym read symbol by symbol with
  pyelftools (the scan as it was; exported names only, the cheaper half);
- cold: `scancache.scanned` with an empty cache (struct reader, members streamed to a
  temporary file, the entry written);
- warm: the same call again (the entry read back);
- explain-cold, explain-warm: `explain` of the wheel, with an empty cache of its own and
  then again: what a run's finish and `wheelclash explain` do (each ELF file and each part
  of its names read in turn, only the names a predictor reads kept).
The caches are temporary folders, removed at the end.
"""

from __future__ import annotations

import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from elftools.elf.elffile import ELFFile

from harness.analysis import scancache
from harness.analysis.elfscan import ELF_MAGIC, EXPORTED_BINDS, VISIBLE


def before(wheel: Path) -> int:
    count = 0
    with zipfile.ZipFile(wheel) as archive:
        for info in archive.infolist():
            base = info.filename.rsplit("/", 1)[-1]
            if not (base.endswith(".so") or ".so." in base):
                continue
            data = archive.read(info.filename)
            if not data.startswith(ELF_MAGIC):
                continue
            table = ELFFile(io.BytesIO(data)).get_section_by_name(".dynsym")
            for symbol in table.iter_symbols() if table else ():
                entry = symbol.entry
                count += bool(
                    symbol.name
                    and entry.st_shndx != "SHN_UNDEF"
                    and entry.st_info.bind in EXPORTED_BINDS
                    and entry.st_other.visibility in VISIBLE
                )
    return count


def after(wheel: Path) -> int:
    facts = scancache.scanned(wheel, "benchmark-" + wheel.name)
    return sum(len(elf.exported) for elf in facts.elves)


def explained(wheel: Path) -> int:
    from harness.analysis.explain import explain

    return len(explain([("bench", wheel)]))


def one(way: str, wheel: Path) -> None:
    start = time.perf_counter()
    if way == "before":
        names = before(wheel)
    elif way.startswith("explain"):
        names = explained(wheel)
    else:
        names = after(wheel)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"seconds": seconds, "peak": peak, "names": names}))


def measure(way: str, wheel: Path, cache: str) -> dict[str, float]:
    env = {**os.environ, "WHEELCLASH_CACHE": cache}
    out = subprocess.run(
        [sys.executable, __file__, "--one", way, str(wheel)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return dict(json.loads(out.splitlines()[-1]))


def main(argv: list[str]) -> int:
    if argv[:1] == ["--one"]:
        one(argv[1], Path(argv[2]))
        return 0
    if not argv:
        print(__doc__)
        return 2
    with (
        tempfile.TemporaryDirectory(prefix="wheelclash-bench-") as cache,
        tempfile.TemporaryDirectory(prefix="wheelclash-bench-explain-") as own,
    ):
        for wheel in map(Path, argv):
            got = {way: measure(way, wheel, cache) for way in ("before", "cold", "warm")}
            got |= {way: measure(way, wheel, own) for way in ("explain-cold", "explain-warm")}
            size = wheel.stat().st_size / 2**20
            print(f"{wheel.name} ({size:.0f} MB, {int(got['cold']['names'])} exported names)")
            for way, row in got.items():
                print(f"  {way:12} {row['seconds']:7.1f} s  peak RSS {row['peak'] / 2**20:6.0f} MB")
            base = got["before"]
            for way in ("cold", "warm", "explain-cold", "explain-warm"):
                print(
                    f"  before/{way}: time ×{base['seconds'] / got[way]['seconds']:.1f}, "
                    f"peak RSS ×{base['peak'] / got[way]['peak']:.1f}"
                )
            for way in ("cold", "warm"):
                print(
                    f"  {way}/explain-{way}: peak RSS "
                    f"×{got[way]['peak'] / got['explain-' + way]['peak']:.1f}"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
