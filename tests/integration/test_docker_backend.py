"""The docker backend against the real engine: verdicts per target, confinement, clean-up."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import docker
import jsonschema
import pytest
from docker.models.containers import Container

from harness import paths
from harness.build.toolchains import load_catalogue
from harness.build.wheels import BuiltWheel
from harness.cells.backends import docker as docker_backend
from harness.cells.backends.channels import Channel, Channels
from harness.cells.backends.docker import DockerBackend, DockerSession, load_settings
from harness.cli import main
from harness.common.verdicts import Verdict
from harness.evidence.classify import classify
from harness.images import doctor_checks, factcache
from harness.images import provision as images
from harness.images.containers import LABEL_OWNER, exec_text, pipes_stdin
from harness.run.runner import session_outcomes, wheels_for
from harness.scenario.load import load_scenario
from harness.scenario.plan import plan
from tests.integration.cli_process import CliSpawner, signal_name
from tests.integration.conftest import REPO, SCENARIOS, cells_in
from tests.unit.helpers import build_wheel, file_wheel, import_job

pytestmark = pytest.mark.docker

HOSTILE = REPO / "tests" / "data" / "hostile"
SCHEMA = json.loads(paths.RESULTS_SCHEMA.read_text())
# CI runs these; the full matrix adds debian:sid (see README).
TARGETS = "debian:bullseye,debian:bookworm,debian:trixie"


def ours(client: docker.DockerClient, pid: int | None = None) -> list[Any]:
    """Containers this machine's wheelclash processes own (of one process, when given)."""
    found = client.containers.list(all=True, sparse=True, filters={"label": LABEL_OWNER})
    if pid is None:
        return list(found)
    return [c for c in found if str(c.attrs["Labels"][LABEL_OWNER]).endswith(f":{pid}")]


def bookworm_wheels(backend: DockerBackend) -> tuple[BuiltWheel, ...]:
    """first-loader-hijack's wheels, built in the bookworm builder."""
    scenario = load_scenario(SCENARIOS / "first-loader-hijack.toml", load_catalogue())
    return wheels_for(scenario, plan(scenario, targets=["debian:bookworm"])[0], backend)


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code = main(["run", *args, "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out)


def test_mechanisms_on_each_debian_target(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], client: docker.DockerClient
) -> None:
    scenarios = [str(SCENARIOS / "call-once.toml"), str(SCENARIOS / "first-loader-hijack.toml")]
    code, document = run_json(
        capsys, *scenarios, "--backend", "docker", "--target", TARGETS, "--results", str(tmp_path)
    )
    jsonschema.validate(document, SCHEMA)
    cells = cells_in(document)
    assert code == 0, [c.id for c in cells if not c.outcome.matches_expectation]
    crashing: dict[str, set[str]] = defaultdict(set)
    for cell in cells:
        if cell.outcome.verdict != "pass":
            assert cell.outcome.verdict == "segfault" and cell.cell.backend == "docker"
            # Crash evidence (evidence/capture.py): a core and native frames naming the module.
            evidence = cell.evidence
            assert {"core", "backtrace", "python_stack", "libraries"} <= set(evidence.artefacts)
            assert any("wc_call_once" in f for f in evidence.native_top), evidence.native_top
            crashing[cell.cell.target].add(f"{cell.cell.scenario} {cell.outcome.last_step}")
    # g++ 10 crashes on first use from a thread, g++ 12 and 14 while b loads.
    assert crashing["debian:bullseye"] == {
        "call-once exercise wc_call_once_b.exercise",
        "first-loader-hijack import wc_call_once_b",
    }
    assert crashing["debian:bookworm"] == {
        "call-once import wc_call_once_b",
        "first-loader-hijack import wc_call_once_b",
    }
    assert crashing["debian:trixie"] == crashing["debian:bookworm"]
    facts = {t["target"]: t for t in document["provenance"]["targets"]}
    assert facts["debian:bullseye"]["glibc"] == "glibc 2.31"
    assert facts["debian:bookworm"]["glibc"] == "glibc 2.36"
    assert facts["debian:trixie"]["glibc"] == "glibc 2.41"
    assert all(f["image_id"].startswith("sha256:") and not f["emulated"] for f in facts.values())
    assert document["provenance"]["backends"]["docker"]["engine"]
    driver = document["provenance"]["backends"]["docker"]["storage_driver"]
    slow = doctor_checks.slow_driver(driver)
    # where the storage driver is slow, the probes ran in each image's root copy, and say so
    copies = {f["root_copy"] for f in facts.values()}
    if slow is not None and slow.mirror:
        assert all(c.startswith("wheelclash-mirror-") and "-root-" in c for c in copies), copies
        assert len(copies) == 3, copies
    else:
        assert copies == {""}, copies
    builders = {w["builder"] for w in document["provenance"]["wheels"]}
    assert builders == {f"debian:{s}/x86_64 builder" for s in ("bullseye", "bookworm", "trixie")}
    assert ours(client, os.getpid()) == []


@contextmanager
def container_processes(pid: int) -> Iterator[dict[str, int]]:
    """While the block runs, the most processes seen at once in each container that the
    wheelclash process `pid` owns (by its label), looked at every 0.2 s: a process is a
    container's when its cgroup path names the container's id, so other processes of this
    machine (other tests, other runs) do not count."""
    most: dict[str, int] = {}
    done = threading.Event()

    def watch() -> None:
        with closing(docker.from_env(timeout=120)) as engine:
            while not done.is_set():
                for container in ours(engine, pid):
                    most.setdefault(str(container.id), 0)
                for container, found in in_containers(most).items():
                    most[container] = max(most[container], len(found))
                done.wait(0.2)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield most
    finally:
        done.set()
        watcher.join(timeout=30)


def in_containers(containers: Iterable[str]) -> dict[str, set[int]]:
    """The live processes of this machine in each of `containers` (ids), by their cgroup."""
    wanted = list(containers)
    found: dict[str, set[int]] = defaultdict(set)
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            groups = Path("/proc", entry, "cgroup").read_text()
        except OSError:  # it ended meanwhile
            continue
        for container in wanted:
            if container in groups:
                found[container].add(int(entry))
    return found


def test_hostile_wheels_are_contained(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], client: docker.DockerClient
) -> None:
    """The confinement holds, on a slow or cold machine too: the memory hog has a minute to
    reach its limit (seconds on a quiet machine), a hang must end within 15 s of a 6 s
    timeout, and only this run's containers' processes are counted."""
    names = ("contained", "fork-bomb", "memory-hog")
    scenarios = [str(HOSTILE / f"hostile-{n}.toml") for n in names]
    with container_processes(os.getpid()) as most:
        code, document = run_json(capsys, *scenarios, "--results", str(tmp_path))
    cells = cells_in(document)
    outcomes = {c.id: (c.outcome.verdict, c.outcome.detail, c.outcome.duration_s) for c in cells}
    assert code == 0, outcomes
    verdicts = {c.id: (c.outcome.verdict, c.outcome.detail) for c in cells}
    for repeat in (1, 2):  # the second repeat runs normally after the first was contained
        cell = f"debian-bookworm-x86_64/local/plain/h#{repeat}"
        assert verdicts[f"hostile-contained/{cell}"] == ("pass", "")
        assert verdicts[f"hostile-fork-bomb/{cell}"][0] == "hang"
        # Killed by the container's memory limit, before its (generous) timeout.
        assert verdicts[f"hostile-memory-hog/{cell}"] == (
            "other-signal",
            "SIGKILL during exercise wc_hostile.memory_hog",
        )
    # The harness ends a hang promptly: its 6 s timeout, a stack dump's grace, the kill.
    quick = [c for c in cells if c.cell.scenario != "hostile-memory-hog"]
    assert all(c.outcome.duration_s < 15 for c in quick), outcomes
    assert ours(client, os.getpid()) == []
    # The fork bomb stayed in its container: it reached the pid limit there and no further,
    # and none of its processes outlived the container. The count is a walk of /proc, not a
    # snapshot: while the bomb's processes end and others take their place, one walk can see
    # a few more than were ever alive at once (seen: 513 of 512), so it gets a small margin.
    limit = load_settings().confinement.pids
    assert len(most) >= len(names), "not every group's container was seen"
    assert 64 <= max(most.values()) <= limit + limit // 16, most
    assert in_containers(most) == {}


def wait_for_container(client: docker.DockerClient, proc: subprocess.Popen[str]) -> None:
    """Until the run has started its container and is inside the first (30 s) cell."""
    deadline = time.monotonic() + 120
    while not ours(client, proc.pid) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert ours(client, proc.pid), "the run never started its container"
    time.sleep(2)


def assert_interrupted_cleanly(
    client: docker.DockerClient, proc: subprocess.Popen[str], results: Path
) -> None:
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert ours(client, proc.pid) == []
    [run_dir] = results.iterdir()
    document = json.loads((run_dir / "results.json").read_text())
    jsonschema.validate(document, SCHEMA)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=signal_name)
def test_interrupting_a_run_removes_its_container(
    spawn_cli: CliSpawner, tmp_path: Path, client: docker.DockerClient, signum: int
) -> None:
    proc = spawn_cli("run", HOSTILE / "hostile-sleep-forever.toml", "--results", tmp_path)
    wait_for_container(client, proc)
    proc.send_signal(signum)
    assert_interrupted_cleanly(client, proc, tmp_path)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGHUP], ids=signal_name)
def test_a_run_started_ignoring_a_signal_keeps_ignoring_it(
    spawn_cli: CliSpawner, tmp_path: Path, client: docker.DockerClient, signum: signal.Signals
) -> None:
    """Started as a background job (SIGINT ignored) or under nohup (SIGHUP ignored), the run
    goes on through that signal; SIGTERM still stops it, removing its container."""
    scenario = HOSTILE / "hostile-sleep-forever.toml"
    proc = spawn_cli("run", scenario, "--results", tmp_path, ignoring=[signum])
    wait_for_container(client, proc)
    proc.send_signal(signum)
    time.sleep(3)
    assert proc.poll() is None, "the run stopped on a signal it started ignoring"
    assert ours(client, proc.pid), "its container went away"
    proc.send_signal(signal.SIGTERM)
    assert_interrupted_cleanly(client, proc, tmp_path)


def test_a_wheel_for_a_newer_glibc_is_not_installable_on_older_targets(
    client: docker.DockerClient,
) -> None:
    backend = DockerBackend()
    wheels = bookworm_wheels(backend)
    # auditwheel tagged the bookworm-built wheels by the glibc their symbols need: b uses
    # pthread_once@GLIBC_2.34, which bullseye's glibc 2.31 lacks.
    assert all("-manylinux_2_" in w.path.name for w in wheels), [w.path.name for w in wheels]
    assert wheels[1].path.name.endswith("-cp38-abi3-manylinux_2_34_x86_64.whl")
    assert wheels[1].audit == "consistent with manylinux_2_34_x86_64; retagged"
    job = import_job("c", wheels[1].module)
    with backend.open("debian:bullseye", "x86_64", wheels) as session:
        [outcome] = list(session_outcomes(session, [job]))
        assert session.facts.glibc == "glibc 2.31"
    assert (
        outcome.not_installable
        and "is not a supported wheel on this target" in outcome.not_installable
    )
    assert classify(outcome).verdict is Verdict.NOT_INSTALLABLE
    with backend.open("debian:trixie", "x86_64", wheels) as session:
        [outcome] = list(session_outcomes(session, [job]))
    assert classify(outcome).verdict is Verdict.PASS
    assert ours(client, os.getpid()) == []


def test_leftovers_are_removed_by_several_janitors_at_once(client: docker.DockerClient) -> None:
    """Eight containers of a dead process, and four backends removing leftovers at once (as
    groups of `atlas --screen -j N`, or several runs, start together): each container is
    removed once, and no janitor fails on one another is removing (the engine's 409)."""
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    pid = int(dead.stdout)
    image = load_image_id(client)
    label = {LABEL_OWNER: f"{os.uname().nodename}:{pid}"}
    orphans = [client.containers.create(image, ["true"], network_mode="none", labels=label)
               for _ in range(8)]  # fmt: skip
    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            removed = list(pool.map(lambda _: DockerBackend().remove_leftovers(), range(4)))
        assert ours(client, pid) == []
        # each of ours removed once at most; another test's backend, opening meanwhile
        # (pytest -n), may have removed some of them, and these janitors may have removed
        # another test's leftovers, which are not counted here
        mine = {str(orphan.id) for orphan in orphans}
        counted = [cid for ids in removed for cid in ids if cid in mine]
        assert counted, removed
        assert len(counted) == len(set(counted)), removed
    finally:
        for orphan in orphans:
            try:
                orphan.remove(force=True)
            except docker.errors.APIError:
                pass


def test_leftovers_of_a_dead_run_are_removed(client: docker.DockerClient) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    pid = int(dead.stdout)
    image = load_image_id(client)
    orphan = client.containers.run(
        image,
        ["sleep", "300"],
        detach=True,
        network_mode="none",
        labels={LABEL_OWNER: f"{os.uname().nodename}:{pid}"},
    )
    try:
        removed = DockerBackend().remove_leftovers()
        # this janitor removed it, or another test's, opening meanwhile (pytest -n), did
        assert str(orphan.id) in removed or not ours(client, pid), removed
        assert ours(client, pid) == []
    finally:
        try:
            orphan.remove(force=True)
        except docker.errors.NotFound:
            pass


def load_image_id(client: docker.DockerClient) -> str:
    return images.ensure_image(client, images.recipe_for("bookworm", "x86_64")).image_id


@contextmanager
def logged_session(
    caplog: pytest.LogCaptureFixture,
) -> Iterator[tuple[DockerSession, tuple[BuiltWheel, ...]]]:
    """A bookworm session of the test's wheels (and the wheels), the backend's log captured."""
    backend = DockerBackend()
    wheels = bookworm_wheels(backend)
    with (
        caplog.at_level(logging.INFO, logger="harness.cells.backends.docker"),
        backend.open("debian:bookworm", "x86_64", wheels) as session,
    ):
        assert isinstance(session, DockerSession)
        yield session, wheels


def test_a_session_runs_several_batches(
    client: docker.DockerClient, caplog: pytest.LogCaptureFixture
) -> None:
    """The exec stream ending must not be mistaken for a deadline (which kills the container).
    On this engine (a unix socket) one supervisor serves the batches one after another, each
    a line on its exec's stdin: one exec for 25 batches, and no batch file is put into the
    container. Closing the session lets it go."""
    with logged_session(caplog) as (session, wheels):
        for batch in range(25):
            job = import_job(f"c{batch}", wheels[1].module)
            [outcome] = list(session_outcomes(session, [job]))
            assert outcome.sentinel_seen and outcome.returncode == 0, (batch, outcome)
        assert pipes_stdin(client.api)
        where = session.settings.harness_dir
        code, found = exec_text(
            session.container, ["find", where, "-name", "batch-*"], user="0", workdir="/"
        )
        assert code == 0 and found.split() == [], found
        served = [r.getMessage() for r in caplog.records if "supervisor.py" in r.getMessage()]
        assert len(served) == 1 and " --serve " in served[0], served
        running = [c for c in commands_in(session.container) if "supervisor.py" in c]
        assert len(running) == 1, running  # the launcher leaves with each batch
        session.channels.close()
        deadline = time.monotonic() + 10
        while running and time.monotonic() < deadline:
            time.sleep(0.1)
            running = [c for c in commands_in(session.container) if "supervisor.py" in c]
        assert running == [], "the supervisor stayed after its stdin ended"
    assert ours(client, os.getpid()) == []


def test_an_engine_whose_exec_stdin_cannot_be_written_gets_a_batch_file_and_exec_each(
    client: docker.DockerClient,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A remote engine's way (tcp, ssh: no writable exec stdin): each batch is put into the
    container as a root-owned file and run by a supervisor of its own, read to its end."""
    monkeypatch.setattr(docker_backend.containers, "pipes_stdin", lambda api: False)
    with logged_session(caplog) as (session, wheels):
        for batch in range(3):
            jobs = [import_job(f"c{batch}-{n}", wheels[1].module) for n in range(2)]
            outcomes = list(session_outcomes(session, jobs))
            assert [o.cell_id for o in outcomes] == [j.cell_id for j in jobs], outcomes
            assert all(o.sentinel_seen and o.returncode == 0 for o in outcomes), outcomes
        code, found = exec_text(
            session.container,
            ["find", session.settings.harness_dir, "-name", "batch-*.json", "-user", "0"],
            user="0",
            workdir="/",
        )
        assert code == 0 and len(found.split()) == 3, found
        runs = [r.getMessage() for r in caplog.records if "supervisor.py" in r.getMessage()]
        assert len(runs) == 3 and not any("--serve" in run for run in runs), runs
    assert ours(client, os.getpid()) == []


# Kill every serving supervisor in the container (its image has no pkill); print how many.
KILL_SERVING = """
import os, signal
found = 0
for pid in [p for p in os.listdir("/proc") if p.isdigit() and int(p) != os.getpid()]:
    try:
        args = open("/proc/%s/cmdline" % pid, "rb").read().split(b"\\0")
    except OSError:
        continue
    if b"--serve" in args and any(a.endswith(b"supervisor.py") for a in args):
        os.kill(int(pid), signal.SIGKILL)
        found += 1
print(found)
"""


def served_then_killed(session: DockerSession, wheels: tuple[BuiltWheel, ...]) -> None:
    """One batch served, then its supervisor, idle now, killed as its own user."""
    [outcome] = list(session_outcomes(session, [import_job("first", wheels[1].module)]))
    assert outcome.returncode == 0, outcome
    code, killed = exec_text(
        session.container,
        ["python3", "-c", KILL_SERVING],
        user=session.settings.supervisor_user,
        workdir="/",
    )
    assert code == 0 and killed.split() == ["1"], killed


def test_a_batch_after_its_idle_supervisor_died_runs_on_a_new_one(
    client: docker.DockerClient, caplog: pytest.LogCaptureFixture
) -> None:
    """A serving supervisor killed between batches (the container's memory limit, a hand):
    the next batch is not lost to it; a new supervisor takes it."""
    with logged_session(caplog) as (session, wheels):
        served_then_killed(session, wheels)
        [outcome] = list(session_outcomes(session, [import_job("second", wheels[1].module)]))
        assert outcome.sentinel_seen and outcome.returncode == 0, outcome
        served = [r.getMessage() for r in caplog.records if " --serve " in r.getMessage()]
        assert len(served) == 2, served
    assert ours(client, os.getpid()) == []


def test_a_batch_sent_to_an_idle_supervisor_that_had_died_goes_to_a_new_one(
    client: docker.DockerClient, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race the test above may or may not meet: the supervisor died, but its stream's
    end reaches the harness only after the next batch went out on it. Forced here: the dead
    channel is handed out as idle although its stream has ended. The batch is not lost: the
    stream ends with none of its lines, and a new supervisor takes it."""
    with logged_session(caplog) as (session, wheels):
        served_then_killed(session, wheels)
        [dead] = session.channels._idle
        assert dead.finished.wait(10)

        def unchecked(channels: Channels) -> Channel | None:
            with channels._lock:
                return channels._idle.pop() if channels._idle else None

        monkeypatch.setattr(Channels, "take", unchecked)
        [outcome] = list(session_outcomes(session, [import_job("second", wheels[1].module)]))
        assert outcome.sentinel_seen and outcome.returncode == 0, outcome
        served = [r.getMessage() for r in caplog.records if " --serve " in r.getMessage()]
        assert len(served) == 2, served
        assert "an idle supervisor had died; its batch goes to a new one" in caplog.text
    assert ours(client, os.getpid()) == []


def commands_in(container: Container) -> list[str]:
    top = container.top(ps_args="-eo pid,args")
    column = top["Titles"].index("COMMAND")
    return [str(row[column]) for row in top["Processes"]]


def test_containers_of_one_image_read_its_facts_once(
    client: docker.DockerClient,
    caplog: pytest.LogCaptureFixture,
    installs: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The target facts and the venv's site-packages folder are the image's: the second
    container of it takes them from the first instead of starting interpreters for them;
    its venv is made and its cells run as the first's do. The facts are kept on disk
    (images/factcache.py): a later run's backend reads none."""
    monkeypatch.setattr(factcache, "FOLDER", f"image-facts-test-{os.getpid()}-{time.time_ns()}")
    wheels = bookworm_wheels(DockerBackend())
    job = import_job("c", wheels[1].module)
    seen = []
    with caplog.at_level(logging.INFO, logger="harness.images.containers"):
        for backend in [DockerBackend()] * 2 + [DockerBackend()]:
            with backend.open("debian:bookworm", "x86_64", wheels) as session:
                [outcome] = list(session_outcomes(session, [job]))
                seen.append(session.facts)
            assert classify(outcome).verdict is Verdict.PASS
    execs = [r.getMessage() for r in caplog.records if "+ docker exec" in r.getMessage()]
    assert len([e for e in execs if "target_facts.py" in e]) == 1, execs
    assert len([e for e in execs if "get_path('purelib')" in e]) == 2, execs  # per backend
    assert len([e for e in execs if " -m venv " in e]) == 3, execs
    assert len([e for e in execs if " -m pip install " in e]) == 3, execs
    assert seen[0] == seen[1] == seen[2]
    shutil.rmtree(paths.cache_dir() / factcache.FOLDER)
    assert seen[0].python.startswith("3.11") and seen[0].glibc == "glibc 2.36"
    assert ours(client, os.getpid()) == []


def test_the_installed_set_is_byte_compiled_after_pip_and_a_bad_module_stops_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, installs: None
) -> None:
    """pip installs without writing .pyc files; then every module is compiled on all cores
    (cells/install.py compile_command). One that does not compile is left as pip leaves it."""
    files = {f"pyc_probe/m{i}.py": f"VALUE = {i}\n" for i in range(40)}
    files["pyc_probe/__init__.py"] = "from pyc_probe import m0\n"
    files["pyc_probe/broken.py"] = "def (:\n"
    path = build_wheel(tmp_path, "pyc-probe", files, tag="py3-none-any")
    wheel = file_wheel(path, "pyc-probe", "pyc_probe")
    backend = DockerBackend()
    with (
        caplog.at_level(logging.INFO, logger="harness.images.containers"),
        backend.open("debian:bookworm", "x86_64", [wheel]) as session,
    ):
        assert isinstance(session, DockerSession)
        site = f"{session.settings.venv}/lib/python3.11/site-packages/pyc_probe"
        code, out = session.container.exec_run(["find", site, "-name", "*.pyc"])
        assert code == 0, out
        assert isinstance(out, bytes)
        compiled = {Path(line).name.split(".")[0] for line in out.decode().split()}
        good, bad = import_job("good", "pyc_probe.m39"), import_job("bad", "pyc_probe.broken")
        outcomes = {o.cell_id: o for o in session_outcomes(session, [good, bad])}
    assert compiled == {f"m{i}" for i in range(40)} | {"__init__"}
    assert classify(outcomes["good"]).verdict is Verdict.PASS
    assert classify(outcomes["bad"]).verdict is Verdict.IMPORT_ERROR
    execs = [r.getMessage() for r in caplog.records if "+ docker exec" in r.getMessage()]
    (install,) = [e for e in execs if " -m pip install " in e]
    assert " --no-compile " in install
    assert [e for e in execs if " -m compileall " in e and e.endswith("/site-packages")]
