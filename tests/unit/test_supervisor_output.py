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
