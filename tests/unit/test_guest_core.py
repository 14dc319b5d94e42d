"""Under qemu-user, capture keeps qemu's core of the emulated process (crash_capture.py)."""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType

from harness import paths
from tests.unit.helpers import resource_script


def crash_capture() -> ModuleType:
    return resource_script(paths.CRASH_CAPTURE)


def test_no_qemu_core_means_not_emulated(tmp_path: Path) -> None:
    (tmp_path / "core").write_bytes(b"\x7fELF")
    assert crash_capture().guest_core(str(tmp_path)) is None
    assert crash_capture().guest_core(str(tmp_path / "absent")) is None


def test_the_newest_qemu_core_is_taken_and_stale_ones_go(tmp_path: Path) -> None:
    old = tmp_path / "qemu_python3_20261201-225501_91.core"
    new = tmp_path / "qemu_python3_20261201-225530_17.core"
    for age, path in ((100, old), (0, new)):
        path.write_bytes(b"\x7fELF")
        os.utime(path, (1_700_000_000 - age, 1_700_000_000 - age))
    assert crash_capture().guest_core(str(tmp_path)) == str(new)
    assert not old.exists() and new.exists()
