"""The doctor's judgements on what an engine reports, its table, and its disk thresholds."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from harness.common.health import Check, Status, runnable
from harness.errors import InvalidInputFile
from harness.images.doctor_checks import (
    DOCTOR_TOML,
    Engine,
    cgroup_check,
    engine_check,
    free_space,
    host_cgroup_version,
    load_table,
    storage_driver_check,
)

LIMITS = {"MemoryLimit": True, "SwapLimit": True, "PidsLimit": True}


def engine(**info: object) -> Engine:
    return Engine(url="unix:///var/run/docker.sock", version={"Version": "27.0.1"}, info=info)


def test_the_shipped_table_names_the_slow_drivers() -> None:
    table = load_table()
    assert {"fuse-overlayfs", "vfs"} <= set(table.slow_drivers)
    assert "0.67x" in table.slow_drivers["fuse-overlayfs"].cost
    assert "root filesystem" in table.slow_drivers["fuse-overlayfs"].cost
    # only where every file access is slow do cell containers read mirrors
    assert table.slow_drivers["fuse-overlayfs"].mirror and not table.slow_drivers["vfs"].mirror
    assert table.fail_below_gib <= table.warn_below_gib


@pytest.mark.parametrize(
    ("driver", "status"),
    [("overlay2", Status.OK), ("fuse-overlayfs", Status.WARN), ("vfs", Status.WARN)],
)
def test_storage_driver(driver: str, status: Status) -> None:
    check = storage_driver_check(engine(Driver=driver), load_table())
    assert check.status is status and check.detail.startswith(driver)
    assert ("daemon.json" in check.fix) is (status is Status.WARN)


def test_cgroup_limits_the_confinement_needs() -> None:
    good = cgroup_check(engine(CgroupVersion="2", CgroupDriver="systemd", **LIMITS))
    assert good.status is Status.OK and good.detail.startswith("cgroup v2 (systemd driver)")
    weak = cgroup_check(engine(CgroupVersion="1", **{**LIMITS, "PidsLimit": False}))
    assert weak.status is Status.WARN and "pids limit" in weak.detail and weak.fix
    assert "memory limit" not in weak.detail


def test_an_engine_that_did_not_answer() -> None:
    dead = Engine(url="unix:///nowhere.sock", problem="connection refused")
    check = engine_check(dead)
    assert check.status is Status.FAIL and "unix:///nowhere.sock" in check.detail
    assert storage_driver_check(dead, load_table()).status is Status.WARN
    assert not runnable([check, Check(name="x", status=Status.OK, detail="")])
    assert runnable([Check(name="x", status=Status.WARN, detail="")])


def test_host_cgroup_version(tmp_path: Path) -> None:
    assert host_cgroup_version(tmp_path) == "1"
    (tmp_path / "cgroup.controllers").write_text("cpu memory pids\n")
    assert host_cgroup_version(tmp_path) == "2"


def test_free_space_thresholds(tmp_path: Path) -> None:
    table = load_table()
    plenty = free_space("disk:t", tmp_path / "not" / "made", table, "tests")
    assert plenty.detail.endswith(f"at {tmp_path / 'not' / 'made'} (tests)")
    huge = replace(table, warn_below_gib=1e9, fail_below_gib=1e8)
    assert free_space("disk:t", tmp_path, huge, "tests").status is Status.FAIL
    warn = replace(table, warn_below_gib=1e9, fail_below_gib=0.0)
    assert free_space("disk:t", tmp_path, warn, "tests").status is Status.WARN


def test_a_bad_table_names_its_keys(tmp_path: Path) -> None:
    text = DOCTOR_TOML.read_text()
    text = text.replace("fail_below_gib = 2", "fail_below_gib = 20")
    text = text.replace("network = 5", 'network = "soon"')
    path = tmp_path / "doctor.toml"
    path.write_text(text)
    with pytest.raises(InvalidInputFile) as caught:
        load_table(path)
    keys = sorted(p.key for p in caught.value.problems)
    assert keys == ["disk.fail_below_gib", "timeouts.network"]
