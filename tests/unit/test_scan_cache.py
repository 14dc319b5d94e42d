"""The explain scan on real ELF objects (this machine's runtime libraries): the struct reader
of .dynsym and the relocations against pyelftools' own per-entry parsing, and the scan cache
(hit, eviction, a corrupt entry)."""

from __future__ import annotations

import gzip
import os
import zipfile
from pathlib import Path
from typing import Any

import pytest
from elftools.elf.elffile import ELFFile
from elftools.elf.relocation import RelocationSection

from harness.analysis import elfscan, scancache
from harness.analysis.elfscan import EXPORTED_BINDS, VISIBLE, read_elf_file
from harness.analysis.wheelscan import elf_from_json, elf_to_json

LIBDIRS = (Path("/usr/lib/x86_64-linux-gnu"), Path("/lib/x86_64-linux-gnu"), Path("/usr/lib64"))
NAMES = ("libstdc++.so.6", "libgcc_s.so.1", "libz.so.1", "libssl.so.3", "libpython3.11.so.1.0")
OBJECTS = [d / n for n in NAMES for d in LIBDIRS if (d / n).is_file()][:4]


def reference_exports(elf: Any) -> list[tuple[str, str, str, int]]:
    """pyelftools' per-symbol reading (what elfscan did before its struct reader)."""
    out = []
    for symbol in elf.get_section_by_name(".dynsym").iter_symbols():
        entry = symbol.entry
        if (
            symbol.name
            and entry.st_shndx != "SHN_UNDEF"
            and entry.st_info.bind in EXPORTED_BINDS
            and entry.st_other.visibility in VISIBLE
        ):
            out.append((symbol.name, entry.st_info.bind, entry.st_info.type, entry.st_size))
    return out


def reference_relocated(elf: Any) -> frozenset[str]:
    names = set()
    for section in elf.iter_sections():
        if isinstance(section, RelocationSection) and section.name in (".rela.dyn", ".rela.plt"):
            symbols = elf.get_section(section["sh_link"])
            for relocation in section.iter_relocations():
                if relocation["r_info_sym"]:
                    name = symbols.get_symbol(relocation["r_info_sym"]).name
                    if name:
                        names.add(name)
    return frozenset(names)


@pytest.mark.skipif(not OBJECTS, reason="no runtime library found on this machine")
@pytest.mark.parametrize("path", OBJECTS, ids=lambda p: p.name)
def test_struct_reader_equals_pyelftools(path: Path) -> None:
    facts = read_elf_file(path.resolve())
    with path.open("rb") as stream:
        elf = ELFFile(stream)
        expected = reference_exports(elf)
        relocated = reference_relocated(elf)
    # in the order of the string table, not of .dynsym (elfscan reads the names in windows)
    assert sorted((e.name, e.bind, e.kind, e.size) for e in facts.exported) == sorted(expected)
    assert expected  # a runtime library exports names
    assert facts.relocated == relocated


@pytest.mark.skipif(not OBJECTS, reason="no runtime library found on this machine")
def test_names_read_in_windows_smaller_than_a_name_are_the_same(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A window of 16 bytes: most names span windows, which must grow and move on."""
    path = OBJECTS[0].resolve()
    whole = read_elf_file(path, relocations=False)
    monkeypatch.setattr(elfscan, "WINDOW", 16)
    assert read_elf_file(path, relocations=False) == whole
    assert max(len(e.name) for e in whole.exported) > 64


@pytest.mark.skipif(not OBJECTS, reason="no runtime library found on this machine")
def test_facts_survive_json() -> None:
    facts = read_elf_file(OBJECTS[0].resolve())
    assert elf_from_json(elf_to_json(facts)) == facts


def wheel_with(folder: Path, project: str, library: Path) -> Path:
    wheel = folder / f"{project}-1.0-cp311-cp311-linux_x86_64.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(library, f"{project}.libs/{library.name}")
        archive.writestr(f"{project}/__init__.py", "import sys\nsys.setdlopenflags(0x102)\n")
        archive.writestr(f"{project}-1.0.dist-info/RECORD", "")
    return wheel


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("WHEELCLASH_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "scans"


@pytest.mark.skipif(not OBJECTS, reason="no runtime library found on this machine")
def test_cache_hit_returns_the_same_facts_without_scanning(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wheel = wheel_with(tmp_path, "one", OBJECTS[0].resolve())
    first = scancache.scanned(wheel, "a" * 64)
    assert first.python_hits == ("one/__init__.py:2",)
    assert (cache / f"{'a' * 64}.json.gz").is_file()

    def no_scan(path: Path) -> Any:
        raise AssertionError(f"scanned {path} again")

    monkeypatch.setattr(scancache, "stream_wheel", no_scan)
    assert scancache.scanned(wheel, "a" * 64) == first


@pytest.mark.skipif(not OBJECTS, reason="no runtime library found on this machine")
def test_corrupt_or_old_entry_is_scanned_again_and_rewritten(cache: Path, tmp_path: Path) -> None:
    wheel = wheel_with(tmp_path, "one", OBJECTS[0].resolve())
    facts = scancache.scanned(wheel, "b" * 64)
    path = cache / f"{'b' * 64}.json.gz"
    for broken in (b"not gzip at all", gzip.compress(b'{"version": 1}\n{"path": 3}\n'), b""):
        path.write_bytes(broken)
        assert scancache.load("b" * 64) is None
        assert scancache.scanned(wheel, "b" * 64) == facts
        assert scancache.load("b" * 64) == facts  # rewritten
    with gzip.open(path, "rt") as stream:
        lines = stream.readlines()
    current = f'"version": {scancache.VERSION}'
    assert current in lines[0]
    lines[0] = lines[0].replace(current, '"version": 0')
    path.write_bytes(gzip.compress("".join(lines).encode()))
    assert scancache.load("b" * 64) is None


@pytest.mark.skipif(not OBJECTS, reason="no runtime library found on this machine")
def test_names_go_in_parts_and_a_reader_may_skip_them(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scancache, "PART", 100)
    wheel = wheel_with(tmp_path, "two", OBJECTS[0].resolve())
    with zipfile.ZipFile(wheel, "a") as archive:
        archive.write(OBJECTS[-1].resolve(), f"two.libs/{OBJECTS[-1].name}")
    facts = scancache.scanned(wheel, "c" * 64)
    assert len(facts.elves) == 2 and len(facts.elves[0].exported) > 300
    with gzip.open(cache / f"{'c' * 64}.json.gz", "rt") as stream:
        lines = stream.readlines()
    parts = [len(line) for line in lines if line.startswith('{"names"')]
    assert len(parts) >= 3 + len(facts.elves[1].exported) // 100  # 100 names a line at most
    assert scancache.load("c" * 64) == facts
    # Reading the second file's names after leaving the first's unread gives the same names.
    files = scancache.read(wheel, "c" * 64).files
    next(files)
    second, names = next(files)
    assert second.path == facts.elves[1].path
    assert tuple(names) == facts.elves[1].exported


@pytest.mark.skipif(not OBJECTS, reason="no runtime library found on this machine")
def test_an_entry_damaged_among_its_names_is_removed_and_scanned_again(
    cache: Path, tmp_path: Path
) -> None:
    wheel = wheel_with(tmp_path, "one", OBJECTS[0].resolve())
    facts = scancache.scanned(wheel, "d" * 64)
    path = cache / f"{'d' * 64}.json.gz"
    with gzip.open(path, "rt") as stream:
        lines = stream.readlines()
    part = next(i for i, line in enumerate(lines) if line.startswith('{"names"'))
    lines[part] = lines[part][: len(lines[part]) // 2] + "\n"  # cut short
    path.write_bytes(gzip.compress("".join(lines).encode()))
    files = scancache.read(wheel, "d" * 64).files
    _, names = next(files)
    with pytest.raises(scancache.Damaged, match="damaged"):
        list(names)
    assert not path.exists()  # removed: the next reader scans the wheel
    assert scancache.scanned(wheel, "d" * 64) == facts
    assert path.is_file()
    # a reader that meets the damage on its way reads once more, from a new scan
    path.write_bytes(gzip.compress("".join(lines).encode()))
    uses: list[int] = []

    def names_of(opened: scancache.Opened) -> tuple[int, ...]:
        uses.append(1)
        return tuple(len(list(names)) for _, names in opened.files)

    counted = scancache.read_with(wheel, "d" * 64, names_of)
    assert len(uses) == 2 and counted == tuple(len(elf.exported) for elf in facts.elves)


@pytest.mark.skipif(not OBJECTS, reason="no runtime library found on this machine")
def test_eviction_keeps_the_most_recently_used(cache: Path, tmp_path: Path) -> None:
    wheel = wheel_with(tmp_path, "one", OBJECTS[0].resolve())
    keys = [f"{n:064x}" for n in range(5)]
    for age, key in enumerate(keys):
        scancache.scanned(wheel, key)
        os.utime(cache / f"{key}.json.gz", (1000 + age, 1000 + age))
    assert scancache.load(keys[0]) is not None  # a hit: now the most recently used
    removed = scancache.evict(keep=3)
    assert sorted(p.name for p in removed) == [f"{k}.json.gz" for k in keys[1:3]]
    assert sorted(p.name for p in cache.iterdir()) == sorted(
        f"{k}.json.gz" for k in (keys[0], keys[3], keys[4])
    )
