"""The controller's peak memory while a big wheelhouse reaches a container, each transfer way.

    .venv/bin/python benchmarks/memory.py [--size-mib 2048] [--wheels 4] [--target T]
                                          [--before CHECKOUT] [--keep DIR]

Makes --wheels incompressible wheels (tests/wheelmaker.py) of --size-mib in all: half are the
set's own wheels, each requiring one of the other half, which sit in a wheelhouse. Then, for
each transfer way, a child process opens a docker session on --target with that set (the
container, the wheels brought in, the venv, pip's offline install of every wheel) and runs
one cell importing them all, which must pass. The child's peak RSS comes from `os.wait4`
(ru_maxrss: its whole life, imports included). A child that only imports the same modules
gives the floor. With --before, a checkout of the code before this change (its `harness`
put first on PYTHONPATH) runs the same open, for the old figure.

Goal (issue 17): the controller under 300 MB with a 2 GB wheelhouse.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import fields
from pathlib import Path
from typing import Final

ROOT: Final = Path(__file__).resolve().parent.parent
GOAL_MB: Final = 300
ISSUE_BEFORE: Final = "3.65 GB of RSS for a 1.4 GB wheelhouse (issue 17, before this change)"
WAYS: Final = ("idle", "mount", "stream")


def make_wheelhouse(folder: Path, size_mib: int, count: int) -> None:
    """`count` wheels of `size_mib` MiB in all: tops in `folder`, their deps in folder/house."""
    sys.path.insert(0, str(ROOT))  # tests/ is not installed; its wheel maker is used as is
    from tests.wheelmaker import make_wheel

    house = folder / "house"
    house.mkdir(parents=True)
    each = (size_mib << 20) // count
    for i in range(count // 2):
        make_wheel(house, f"bench-dep-{i}", each)
        make_wheel(folder, f"bench-top-{i}", each, requires=[f"bench-dep-{i}"])


def child(way: str, folder: Path, target: str) -> None:
    """Open a session on the set in `folder` (unless idle) and run one cell; print a JSON line."""
    import harness
    from harness.build.wheels import BuiltWheel
    from harness.cells.backends.docker import DockerBackend
    from harness.cells.jobs import CellJob, Import
    from harness.evidence.classify import classify
    from harness.run.runner import session_outcomes

    if way == "idle":
        print(json.dumps({"way": way}))
        return
    house = folder / "house"
    blank = {f.name: "" for f in fields(BuiltWheel) if f.type == "str"}
    wheels = []
    for path in sorted(folder.glob("*.whl")):
        module = path.name.split("-")[0]
        data = {**blank, "wheel_id": module, "module": module, "wheelhouse": str(house)}
        wheels.append(BuiltWheel.from_json({**data, "path": str(path)}))
    modules = [p.name.split("-")[0] for p in sorted([*folder.glob("*.whl"), *house.glob("*.whl")])]
    job = CellJob(
        cell_id="memory",
        imports=tuple(Import(module=m, rtld_global=False) for m in modules),
        exercises=(),
        victims=False,
        preload="",
        timeout_s=120,
    )
    started = time.perf_counter()
    with DockerBackend().open(target, "x86_64", wheels) as session:
        opened = time.perf_counter() - started
        [outcome] = list(session_outcomes(session, [job]))
    verdict = str(classify(outcome).verdict)
    code = str(Path(harness.__file__).parent.parent)
    print(json.dumps({"way": way, "open_s": opened, "verdict": verdict, "code": code}))


def measure(
    way: str, folder: Path, target: str, code: Path | None
) -> tuple[dict[str, object], int]:
    """Run one child; what it printed and its peak RSS in KiB."""
    env = dict(os.environ)
    if way in ("mount", "stream"):
        env["WHEELCLASH_WHEEL_TRANSFER"] = way
    if code is not None:
        env["PYTHONPATH"] = str(code)
    command = [
        sys.executable,
        __file__,
        "--child",
        way,
        "--folder",
        str(folder),
        "--target",
        target,
    ]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # Read the pipes before waiting (a full pipe would block the child), then reap it with
    # wait4, which gives this child's own rusage.
    out, err = process.stdout.read(), process.stderr.read()  # type: ignore[union-attr]
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        sys.exit(f"the {way} child failed ({process.returncode}):\n{err.decode()[-3000:]}")
    report: dict[str, object] = json.loads(out.decode().strip().splitlines()[-1])
    if way != "idle" and report["verdict"] != "pass":
        sys.exit(f"the {way} child's cell did not pass: {report}")
    return report, usage.ru_maxrss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=2048)
    parser.add_argument("--wheels", type=int, default=4, help="an even number")
    parser.add_argument("--target", default="debian:bookworm")
    parser.add_argument("--before", type=Path, help="a checkout of the code before the change")
    parser.add_argument("--keep", type=Path, help="make (or reuse) the wheels here, keep them")
    parser.add_argument("--child", choices=[*WAYS, "before"], help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child("stream" if args.child == "before" else args.child, args.folder, args.target)
        return
    if args.wheels < 2 or args.wheels % 2:
        sys.exit("--wheels must be an even number, 2 or more")
    work = args.keep or Path(tempfile.mkdtemp(prefix="wheelclash-memory-"))
    try:
        if not any(work.glob("*.whl")):
            started = time.perf_counter()
            make_wheelhouse(work, args.size_mib, args.wheels)
            print(f"made {args.wheels} wheels in {time.perf_counter() - started:.1f} s")
        files = [*work.glob("*.whl"), *work.glob("house/*.whl")]
        total = sum(f.stat().st_size for f in files)
        print(f"wheel set: {len(files)} wheels, {total / 2**20:,.0f} MiB ({total / 1e9:.2f} GB)")
        print(f"load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
        ways = [*WAYS, *(["before"] if args.before else [])]
        peaks: dict[str, float] = {}
        for way in ways:
            code = args.before if way == "before" else None
            report, peak_kib = measure(way, work, args.target, code)
            peaks[way] = peak_kib / 1024
            took = f"{report['open_s']:.1f} s to open" if "open_s" in report else "no session"
            where = f", code in {report['code']}" if way == "before" else ""
            print(f"{way:>7}: peak RSS {peaks[way]:,.0f} MB ({took}{where})", flush=True)
        print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
        for way in ("mount", "stream"):
            verdict = "met" if peaks[way] < GOAL_MB else "missed"
            extra = peaks[way] - peaks["idle"]
            goal = f"goal < {GOAL_MB} MB {verdict}"
            print(f"{way}: {peaks[way]:.0f} MB, {extra:+.0f} MB over idle; {goal}")
        if "before" in peaks:
            for way in ("mount", "stream"):
                print(f"before ÷ {way}: {peaks['before'] / peaks[way]:.1f}×")
        else:
            print(f"before: not measured here; {ISSUE_BEFORE}")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
