"""A flood of output is dropped from the head; the probe's last words always survive."""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType

from harness import paths
from tests.unit.helpers import resource_script

MARK = b"\nwc-torture: flood done\n"


def supervisor() -> ModuleType:
    return resource_script(paths.SUPERVISOR)


def flooded(tmp_path: Path) -> Path:
    path = tmp_path / "cell-0.stdout"
    path.write_bytes(b"x" * (1 << 20) + MARK)
    return path


def test_dropping_the_head_keeps_the_size_and_the_last_line(tmp_path: Path) -> None:
    path = flooded(tmp_path)
    supervisor().drop_head(str(path), 4000)
    assert path.stat().st_size == (1 << 20) + len(MARK)
    assert supervisor().stored_bytes(str(path)) <= 16 * 1024
    assert path.read_bytes().endswith(MARK)


def test_where_no_hole_can_be_punched_the_tail_is_written_back(tmp_path: Path) -> None:
    path = flooded(tmp_path)
    fd = os.open(path, os.O_RDWR)
    try:
        supervisor().cut_keeping_tail(fd, path.stat().st_size, 4000)
    finally:
        os.close(fd)
    data = path.read_bytes()
    assert len(data) == (1 << 20) + len(MARK)
    assert data.endswith(MARK) and data[-4000:].lstrip(b"x") == MARK
    assert data[:4096] == bytes(4096)  # the head is gone


def test_emptying_the_working_folder_leaves_nothing_and_follows_no_link(tmp_path: Path) -> None:
    """What a probe can leave in its working directory: files, nested and locked folders, a
    fifo, links to elsewhere. All go; what a link points at stays."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("not the probe's")
    work = tmp_path / "cells"
    (work / "deep" / "er").mkdir(parents=True)
    (work / "deep" / "er" / "file").write_bytes(b"x" * 4096)
    (work / "fill").write_bytes(b"\0" * (1 << 20))
    os.mkfifo(work / "fifo")
    (work / "link").symlink_to(outside)
    (work / "deep" / "link").symlink_to(outside / "keep")
    (work / "deep").chmod(0)
    work.chmod(0)
    supervisor().empty_folder(str(work))
    assert work.is_dir() and list(work.iterdir()) == []
    assert (outside / "keep").read_text() == "not the probe's"


def test_a_working_folder_taken_away_is_made_again(tmp_path: Path) -> None:
    work = tmp_path / "cells"
    supervisor().empty_folder(str(work))
    assert work.is_dir()
