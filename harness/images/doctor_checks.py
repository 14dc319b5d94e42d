"""`wheelclash doctor`, the container side: the Docker engine, its storage driver, cgroups and
limits, binfmt_misc per arch, free disk for images, mmdebstrap and the Debian mirror.

What to check against (timeouts, disk thresholds, slow storage drivers) is data, in
`resources/doctor.toml`. Every check returns one `Check`; none raises for what it finds.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import docker
import docker.errors

from harness import paths
from harness.common.health import Check, Status
from harness.images import binfmt
from harness.images.catalogue import IMAGES_TOML, host_arch, is_emulated, load_catalogue
from harness.scenario.tomlload import Checker, read_toml

DOCTOR_TOML: Final = paths.RESOURCES / "doctor.toml"
DEFAULT_SOCKET: Final = "unix:///var/run/docker.sock"
GIB: Final = 2**30


@dataclass(frozen=True, kw_only=True)
class SlowDriver:
    name: str
    cost: str
    fix: str
    mirror: bool = False  # cell containers read the image's folders from mirrors


@dataclass(frozen=True, kw_only=True)
class DoctorTable:
    engine_timeout_s: float
    network_timeout_s: float
    warn_below_gib: float
    fail_below_gib: float
    slow_drivers: Mapping[str, SlowDriver]


@functools.cache
def load_table(path: Path = DOCTOR_TOML) -> DoctorTable:
    """The doctor's table, validated; every problem of the file at once."""
    document = read_toml(path)
    check = Checker(path)
    check.unknown_keys(document, {"timeouts", "disk", "storage_drivers"}, "")
    timeouts = check.table(document, "timeouts", "timeouts")
    check.unknown_keys(timeouts, {"engine", "network"}, "timeouts")
    disk = check.table(document, "disk", "disk")
    check.unknown_keys(disk, {"warn_below_gib", "fail_below_gib"}, "disk")
    warn = check.number(disk, "warn_below_gib", "disk.warn_below_gib", 10.0)
    fail = check.number(disk, "fail_below_gib", "disk.fail_below_gib", 2.0)
    if fail > warn:
        check.add("disk.fail_below_gib", f"must not exceed disk.warn_below_gib ({warn})")
    drivers = {}
    for name, row in check.table(document, "storage_drivers", "storage_drivers").items():
        key = f"storage_drivers.{name}"
        if not isinstance(row, dict):
            check.add(key, "must be a table with cost and fix")
            continue
        check.unknown_keys(row, {"cost", "fix", "mirror"}, key)
        mirror = row.get("mirror", False)
        if not isinstance(mirror, bool):
            check.add(f"{key}.mirror", "must be true or false")
        drivers[name] = SlowDriver(
            name=name,
            cost=check.string(row, "cost", f"{key}.cost"),
            fix=check.string(row, "fix", f"{key}.fix"),
            mirror=mirror is True,
        )
    table = DoctorTable(
        engine_timeout_s=check.number(timeouts, "engine", "timeouts.engine", 10.0),
        network_timeout_s=check.number(timeouts, "network", "timeouts.network", 5.0),
        warn_below_gib=warn,
        fail_below_gib=fail,
        slow_drivers=drivers,
    )
    check.raise_if_any()
    return table


def slow_driver(name: str) -> SlowDriver | None:
    """The table's row for a storage driver that costs speed, or None for a fast one."""
    return load_table().slow_drivers.get(name)


# ---------------------------------------------------------------------------------------------
# The engine


@dataclass(frozen=True, kw_only=True)
class Engine:
    """What the engine said about itself; `problem` when it did not answer."""

    url: str
    version: Mapping[str, Any] = field(default_factory=dict)
    info: Mapping[str, Any] = field(default_factory=dict)
    problem: str = ""

    @property
    def answered(self) -> bool:
        return not self.problem

    @property
    def local_root(self) -> Path | None:
        """The engine's DockerRootDir when the engine runs on this machine and it is visible."""
        root = self.info.get("DockerRootDir")
        if not root or not self.url.startswith("unix://") or not Path(str(root)).is_dir():
            return None
        return Path(str(root))


def ask_engine(timeout_s: float) -> Engine:
    """The engine of DOCKER_HOST (or the default socket), asked once for its version and
    info; one that does not answer gives an Engine with its `problem`."""
    url = os.environ.get("DOCKER_HOST") or DEFAULT_SOCKET
    try:
        client = docker.from_env(timeout=max(1, round(timeout_s)))
    except docker.errors.DockerException as exc:
        return Engine(url=url, problem=str(exc))
    try:
        return Engine(url=url, version=client.version(), info=client.info())
    except (docker.errors.DockerException, OSError) as exc:  # requests' errors are OSErrors
        return Engine(url=url, problem=f"{type(exc).__name__}: {exc}")
    finally:
        client.close()


def engine_check(found: Engine) -> Check:
    if not found.answered:
        return Check(
            name="engine",
            status=Status.FAIL,
            detail=f"no Docker engine answers at {found.url} ({found.problem})",
            fix="start it (`systemctl start docker`, or `dockerd &`), or point DOCKER_HOST at a "
            "running engine; without one, only `--backend local` runs",
        )
    said = {key: found.version.get(key, "?") for key in ("Version", "ApiVersion", "Os", "Arch")}
    return Check(
        name="engine",
        status=Status.OK,
        detail=f"Docker Engine {said['Version']} (API {said['ApiVersion']}, "
        f"{said['Os']}/{said['Arch']}) at {found.url}",
    )


def _not_asked(name: str) -> Check:
    return Check(name=name, status=Status.WARN, detail="not checked: no engine answered")


def storage_driver_check(found: Engine, table: DoctorTable) -> Check:
    if not found.answered:
        return _not_asked("storage-driver")
    driver = str(found.info.get("Driver", "") or "unknown")
    slow = table.slow_drivers.get(driver)
    if slow is None:
        return Check(name="storage-driver", status=Status.OK, detail=driver)
    return Check(
        name="storage-driver", status=Status.WARN, detail=f"{driver}: {slow.cost}", fix=slow.fix
    )


def host_cgroup_version(root: Path = Path("/sys/fs/cgroup")) -> str:
    """2 when /sys/fs/cgroup is the unified hierarchy, else 1 (what the engine reports too)."""
    return "2" if (root / "cgroup.controllers").is_file() else "1"


_LIMITS: Final = (
    ("MemoryLimit", "memory", "a memory hog takes the host's memory instead of being OOM-killed"),
    ("SwapLimit", "swap", "the memory limit does not cover swap, so a memory hog swaps"),
    ("PidsLimit", "pids", "a fork bomb is not stopped at the container's pid limit"),
)


def cgroup_check(found: Engine) -> Check:
    """The cgroup version, and whether the limits a confined container relies on
    (resources/docker.toml: memory with swap, pids) are enforced."""
    if not found.answered:
        return Check(
            name="cgroup",
            status=Status.WARN,
            detail=f"cgroup v{host_cgroup_version()} on this host; the engine's limits are not "
            "known (no engine answered)",
        )
    version = str(found.info.get("CgroupVersion") or host_cgroup_version())
    driver = str(found.info.get("CgroupDriver") or "?")
    missing = [(what, why) for key, what, why in _LIMITS if not found.info.get(key)]
    where = f"cgroup v{version} ({driver} driver)"
    if not missing:
        return Check(
            name="cgroup",
            status=Status.OK,
            detail=f"{where}; memory, swap and pids limits are enforced",
        )
    return Check(
        name="cgroup",
        status=Status.WARN,
        detail=f"{where}; the engine does not enforce the "
        + "; ".join(f"{what} limit: {why}" for what, why in missing),
        fix="enable the cgroup controllers for the engine: boot with "
        "`cgroup_enable=memory swapaccount=1` on the kernel command line (cgroup v1), or move "
        "to cgroup v2 (`systemd.unified_cgroup_hierarchy=1`), then restart the engine",
    )


def binfmt_checks() -> list[Check]:
    """One line per arch of images.toml: native here, or emulated through a ready qemu-user
    registration (flag F), or what is missing and how to add it."""
    host = host_arch()
    found = []
    for arch, platform in load_catalogue().platforms.items():
        name = f"binfmt:{arch}"
        if not is_emulated(arch):
            found.append(Check(name=name, status=Status.OK, detail=f"native on this {host} host"))
            continue
        registration = binfmt.inspect(arch, platform.qemu)
        entry = registration.entry
        if registration.state is binfmt.State.READY and entry is not None:
            detail = f"emulated: {registration.path} ({entry.interpreter}, flags {entry.flags})"
            found.append(Check(name=name, status=Status.OK, detail=detail))
            continue
        what, steps = binfmt.what_and_steps(registration)
        commands = "; ".join(" ".join(step.split()) for step in steps)
        found.append(
            Check(
                name=name,
                status=Status.WARN,
                detail=f"{arch} images cannot run here: {what}",
                fix=f"as root: {commands}; or {binfmt.installer(arch)}; or map {arch} to a native "
                f"engine (--engine {arch}=URL); only needed for {arch} targets",
            )
        )
    return found


def images_disk_check(found: Engine, table: DoctorTable) -> Check:
    if not found.answered:
        return _not_asked("disk:images")
    root = found.local_root
    if root is None:
        where = found.info.get("DockerRootDir") or "?"
        return Check(
            name="disk:images",
            status=Status.OK,
            detail=f"not checked: the engine's {where} is not on this machine",
        )
    holds = "the engine's images, containers and kept environments (docker.toml)"
    return free_space("disk:images", root, table, holds)


def free_space(name: str, path: Path, table: DoctorTable, holds: str) -> Check:
    """Free space on the file system of `path` (or of its nearest existing parent)."""
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    usage = shutil.disk_usage(existing)
    free = usage.free / GIB
    detail = f"{free:.1f} GiB free of {usage.total / GIB:.0f} GiB at {path} ({holds})"
    fix = (
        f"free space there (`wheelclash cache prune --older-than 30d`, `docker system prune`) "
        f"or move it to a larger disk; keep at least {table.warn_below_gib:g} GiB free"
    )
    if free < table.fail_below_gib:
        return Check(name=name, status=Status.FAIL, detail=detail, fix=fix)
    if free < table.warn_below_gib:
        return Check(name=name, status=Status.WARN, detail=detail, fix=fix)
    return Check(name=name, status=Status.OK, detail=detail)


# ---------------------------------------------------------------------------------------------
# Bootstrapping Debian images


def mmdebstrap_check() -> Check:
    program = shutil.which("mmdebstrap")
    if program is None:
        return Check(
            name="mmdebstrap",
            status=Status.WARN,
            detail="not on PATH: debian:<suite> images cannot be bootstrapped here (images "
            "already in the engine still work)",
            fix="apt-get install mmdebstrap (Debian 11 or later, Ubuntu 22.04 or later); "
            "foreign arches also need arch-test and qemu-user-static",
        )
    try:
        done = subprocess.run(
            [program, "--version"], capture_output=True, text=True, check=False, timeout=30
        )
        version = (done.stdout or done.stderr).strip().splitlines()[0]
    except (OSError, subprocess.TimeoutExpired, IndexError) as exc:
        return Check(
            name="mmdebstrap",
            status=Status.WARN,
            detail=f"{program} does not run ({exc})",
            fix="reinstall it: apt-get install --reinstall mmdebstrap",
        )
    return Check(name="mmdebstrap", status=Status.OK, detail=f"{version} ({program})")


def reachable(url: str, timeout_s: float) -> tuple[bool, str]:
    """Whether `url` answers a HEAD request within the timeout; what happened, in words."""
    started = time.monotonic()
    request = urllib.request.Request(url, method="HEAD")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        return False, f"{url} answered HTTP {exc.code} {exc.reason}"
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return False, f"{url} did not answer within {timeout_s:g} s ({reason})"
    return True, f"{url} answered HTTP {status} in {time.monotonic() - started:.2f} s"


def mirror_check(table: DoctorTable) -> Check:
    """The Debian mirror of images.toml, asked for a suite's Release file."""
    catalogue = load_catalogue()
    suite = next(iter(catalogue.suites.values()), None)
    mirror = catalogue.bootstrap.mirror.rstrip("/")
    url = f"{mirror}/dists/{suite.mirror_suite}/Release" if suite else f"{mirror}/"
    ok, said = reachable(url, table.network_timeout_s)
    if ok:
        return Check(name="mirror:debian", status=Status.OK, detail=said)
    return Check(
        name="mirror:debian",
        status=Status.WARN,
        detail=f"{said}: debian:<suite> images cannot be bootstrapped (images already in the "
        "engine still work)",
        fix=f"check the network or set http_proxy, or set a reachable mirror in {IMAGES_TOML} "
        "([bootstrap] mirror)",
    )


def checks(table: DoctorTable) -> list[Check]:
    """Every container-side check, in the order the doctor prints them."""
    found = ask_engine(table.engine_timeout_s)
    return [
        engine_check(found),
        storage_driver_check(found, table),
        cgroup_check(found),
        *binfmt_checks(),
        images_disk_check(found, table),
        mmdebstrap_check(),
        mirror_check(table),
    ]
