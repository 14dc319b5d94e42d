"""A file's sha256 is read once per version of the file: a run whose groups share a wheel
hashes it once, and a file written since is read again."""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from pathlib import Path

import pytest

from harness.build.toolchains import load_catalogue
from harness.cells.backends.local import LocalBackend
from harness.common import digests
from harness.common.digests import file_sha256
from harness.run import prepare
from harness.run.runner import group_cells, wheels_for
from harness.scenario.load import Scenario, load_scenario
from harness.scenario.plan import Cell, plan
from tests.unit.helpers import build_wheel

READING = ": reading it"


def reads(caplog: pytest.LogCaptureFixture, path: Path) -> int:
    """How many times the file at `path` was read to hash it."""
    return sum(
        1
        for r in caplog.records
        if r.name == digests.__name__ and r.getMessage() == f"sha256 of {path}{READING}"
    )


def test_a_file_is_read_once_until_it_is_written_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=digests.__name__)
    path = tmp_path / "a.whl"
    path.write_bytes(os.urandom(3 * digests.BLOCK + 5))
    first = hashlib.sha256(path.read_bytes()).hexdigest()
    assert file_sha256(path) == file_sha256(path) == first
    assert reads(caplog, path) == 1
    # Same size, same mtime, other bytes: the change time tells the rewrite.
    stat = path.stat()
    path.write_bytes(os.urandom(stat.st_size))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert file_sha256(path) == hashlib.sha256(path.read_bytes()).hexdigest() != first
    assert reads(caplog, path) == 2


def test_threads_asking_for_one_file_at_once_read_it_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=digests.__name__)
    path = tmp_path / "big.whl"
    path.write_bytes(os.urandom(16 * digests.BLOCK))
    start = threading.Barrier(4)
    found: list[str] = []

    def ask() -> None:
        start.wait()
        found.append(file_sha256(path))

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert found == [hashlib.sha256(path.read_bytes()).hexdigest()] * 4
    assert reads(caplog, path) == 1


def write_scenario(folder: Path, name: str, wheels: dict[str, Path]) -> Path:
    rows = "".join(f'[[wheels]]\nid = "{i}"\nwheel = "{p}"\n' for i, p in wheels.items())
    path = folder / f"{name}.toml"
    path.write_text(f'name = "{name}"\ndescription = "d"\n{rows}[matrix]\n')
    return path


def test_a_run_whose_two_groups_share_a_wheel_hashes_it_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Preparing a run assembles each group's wheel set (its given wheels hashed for their
    provenance); the wheel both groups install is read once, on two threads too."""
    caplog.set_level(logging.DEBUG, logger=digests.__name__)
    tag = "py3-none-any"
    shared = build_wheel(tmp_path, "shared", {"shared/__init__.py": "x = 1\n"}, tag=tag)
    one = build_wheel(tmp_path, "one", {"one/__init__.py": ""}, tag=tag)
    two = build_wheel(tmp_path, "two", {"two/__init__.py": ""}, tag=tag)
    catalogue = load_catalogue()
    scenarios = {
        s.name: s
        for s in (
            load_scenario(write_scenario(tmp_path, "first", {"s": shared, "a": one}), catalogue),
            load_scenario(write_scenario(tmp_path, "second", {"s": shared, "b": two}), catalogue),
        )
    }
    units = [g for s in scenarios.values() for g in group_cells(plan(s))]
    assert len(units) == 2 and units[0][0].group != units[1][0].group
    backend = LocalBackend()

    def scenario_of(cell: Cell) -> Scenario:
        return scenarios[cell.scenario]

    built = prepare.prepare_groups(units, scenario_of, lambda _: backend, wheels_for, jobs=2)
    digest = hashlib.sha256(shared.read_bytes()).hexdigest()
    assert [[w.sha256 == digest for w in ws] for ws in built.values()] == [[True, False]] * 2
    assert reads(caplog, shared) == 1
    assert (reads(caplog, one), reads(caplog, two)) == (1, 1)
