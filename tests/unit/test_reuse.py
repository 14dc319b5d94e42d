"""Incremental runs (harness/run/reuse.py): which previous edition is chosen, which of its
cells are taken (only those of environments whose key is unchanged, under the same harness
files), and what a key covers."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from harness.build.wheels import BuiltWheel
from harness.common.verdicts import Verdict
from harness.evidence.results import CellResult, Provenance, load_results
from harness.run.reuse import (
    REUSE_KEY,
    Previous,
    Reused,
    harness_fingerprint,
    installed_files,
    latest_edition,
    take,
)
from harness.run.state import CellIndex, Stream, write_results
from tests.unit.helpers import made_result

P, S = Verdict.PASS, Verdict.SEGFAULT
SAME, OLD, NEW = "1" * 64, "2" * 64, "3" * 64


def previous_run(
    run_dir: Path,
    results: Sequence[CellResult],
    environments: dict[str, str],
    *,
    harness: str = "",
    started: str = "2026-12-01T10:00:00",
) -> Path:
    run_dir.mkdir(parents=True)
    index = CellIndex()
    stream = Stream(run_dir, index)
    for result in results:
        stream.add(result)
    stream.close()
    record = Reused(environments=environments, harness=harness or harness_fingerprint())
    return write_results(
        run_dir,
        Provenance(started=started),
        index,
        [r.id for r in results],
        {},
        {REUSE_KEY: record.to_json()},
    )


def cells() -> list[CellResult]:
    return [
        made_result("p--q", ("p", "q"), S),
        made_result("p--q", ("p", "q"), S, repeat=2),
        made_result("p--q", ("q", "p"), P),
        made_result("p--r", ("p", "r"), P),
    ]


def test_only_the_cells_of_unchanged_environments_are_taken(tmp_path: Path) -> None:
    before = previous_run(tmp_path / "old", cells(), {"p--q/host": SAME, "p--r/host": OLD})
    keys = {"p--q/host": SAME, "p--r/host": NEW}
    planned = [c.id for c in cells() if c.cell.repeat == 1]
    run_dir = tmp_path / "new"
    run_dir.mkdir()
    index = CellIndex()
    position = {cell_id: i for i, cell_id in enumerate(planned)}
    found = take(Previous(path=before, why="given"), keys, planned, index, run_dir, position)
    assert found.groups == ("p--q/host",)
    # the failing cell's extra run comes along, in its first run's place
    assert found.cells == (
        "p--q/host/local/plain/p,q#1",
        "p--q/host/local/plain/p,q#2",
        "p--q/host/local/plain/q,p#1",
    )
    assert set(index.entries) == set(found.cells)
    assert Reused.read(run_dir) == found and found.source == str(before)
    assert "reused 3 cells of 1 of 2 environments" in found.line()
    taken = CellIndex.scan(run_dir)
    assert set(taken.entries) == set(found.cells)


def test_nothing_is_taken_when_the_harness_files_changed(tmp_path: Path) -> None:
    keys = {"p--q/host": SAME}
    before = previous_run(tmp_path / "old", cells(), keys, harness="f" * 64)
    run_dir = tmp_path / "new"
    run_dir.mkdir()
    planned = [cells()[0].id]
    found = take(Previous(path=before, why="given"), keys, planned, CellIndex(), run_dir, {})
    assert found.cells == () and found.groups == ()


def test_no_previous_edition_records_the_keys_alone(tmp_path: Path) -> None:
    found = take(None, {"p--q/host": SAME}, [], CellIndex(), tmp_path, {})
    assert found.source == "" and Reused.read(tmp_path) == found
    assert "every cell ran" in found.line()


def test_the_latest_edition_of_the_same_target_is_chosen(tmp_path: Path) -> None:
    editions = tmp_path / "editions"
    previous_run(editions / "2026-12-01-host", cells(), {}, started="2026-12-01T10:00:00")
    newest = previous_run(
        editions / "2026-12-03-host", cells()[:1], {}, started="2026-12-03T09:00:00"
    )
    other = [replace(c, cell=replace(c.cell, target="debian:bookworm")) for c in cells()]
    previous_run(editions / "2026-12-04-debian-bookworm", other, {}, started="2026-12-04")
    chosen = latest_edition(editions, "host", "x86_64")
    assert chosen is not None and chosen.path == newest
    assert "the latest edition of host (x86_64)" in chosen.why
    assert latest_edition(editions, "host", "aarch64") is None
    assert latest_edition(tmp_path / "none", "host", "x86_64") is None
    _, read = load_results(newest)
    assert len(read) == 1


def wheel(path: Path, house: Path | None) -> BuiltWheel:
    return BuiltWheel(
        wheel_id="p", module="p", fixture="", toolchain="given", link="", path=path,
        sha256="a" * 64, compiler="", elf_comment="", builder="", builder_id="", audit="",
        cache_key="", wheelhouse=str(house) if house else "",
    )  # fmt: skip


def test_a_key_covers_every_file_of_the_wheelhouse(tmp_path: Path) -> None:
    house = tmp_path / "house"
    house.mkdir()
    (house / "dep-1.0-py3-none-any.whl").write_bytes(b"one")
    given = wheel(tmp_path / "p-1.0-py3-none-any.whl", house)
    first = installed_files([given])
    assert first[0] == f"dep-1.0-py3-none-any.whl {hashlib.sha256(b'one').hexdigest()}"
    assert first[1] == f"p-1.0-py3-none-any.whl {'a' * 64}"
    (house / "dep-1.0-py3-none-any.whl").write_bytes(b"three")
    assert installed_files([given]) != first
    assert installed_files([wheel(given.path, None)]) == [first[1]]
