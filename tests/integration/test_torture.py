"""The torture scenarios (tests/data/torture): every verdict kind and the nasty cases, for real.

One C++ fixture (tests/data/fixtures/cpp/torture) built into real wheels: its exercises fault,
abort, trap, divide by zero, hang deaf to signals, escape the process group, leave daemons,
fault inside their own SIGSEGV handler, close stdout and stderr, write 2 GiB of output and
crash at exit; its build variants fail to import in each of the loader's ways or are tagged
for another arch. Each cell must get exactly the verdict its scenario expects, and the harness
must come back with nothing left running.

CI runs each scenario once per backend. `-m slow` runs the 1,000-cell version (see README):
    .venv/bin/python -m pytest -m slow tests/integration/test_torture.py
"""

from __future__ import annotations

import os
import shutil
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Final

import docker
import psutil
import pytest

from harness import paths
from harness.common.verdicts import Verdict
from harness.evidence.results import CellResult, load_results
from harness.images.containers import LABEL_OWNER
from harness.run.runner import RunRequest, RunSummary, execute
from tests.integration.conftest import REPO

DATA: Final = REPO / "tests" / "data"
TORTURE: Final = DATA / "torture"
SCENARIOS: Final = tuple(sorted(TORTURE.glob("*.toml")))
TARGET: Final = "debian:bookworm"

# What the classified detail must say, beyond the verdict the scenario expects.
DETAILS: Final = {
    "torture-segv": "SIGSEGV during exercise wc_torture.segv",
    "torture-abort": "SIGABRT during exercise wc_torture.abort_",
    "torture-bus": "SIGBUS during exercise wc_torture.bus",
    "torture-ill": "SIGILL during exercise wc_torture.ill",
    "torture-fpe": "SIGFPE during exercise wc_torture.fpe",
    "torture-other-signal": "SIGXCPU during exercise wc_torture.other_signal",
    "torture-hang": "timed out at exercise wc_torture.hang",
    "torture-hang-deaf": "timed out at exercise wc_torture.hang_deaf",
    "torture-hang-escaped-child": "timed out at exercise wc_torture.hang_escaped_child",
    "torture-double-fault": "SIGSEGV during exercise wc_torture.double_fault",
    "torture-close-std-segv": "SIGSEGV during exercise wc_torture.close_std_segv",
    "torture-exit-segv": "SIGSEGV after the last step",
    "torture-exit-status": "exit status 7 after the last step",
    "torture-wrong-result": "AssertionError: torture computed 2 + 2 = 5",
    "torture-wrong-false": "AssertionError: exercise returned False",
    "torture-undefined-symbol": "undefined symbol: wc_torture_nowhere_defined",
    "torture-version-not-found": "version `WCT_2.0' not found",
    "torture-static-tls": "cannot allocate memory in static TLS block",
    "torture-import-raises": "RuntimeError: torture refuses to load",
    "torture-not-installable": "wc_torture_arm-1.0-cp38-abi3-manylinux2014_aarch64.whl",
}
# Cells that must take about their timeout, no more; everything else is quick.
HANGS: Final = {"torture-hang", "torture-hang-deaf", "torture-hang-escaped-child"}
HANG_TIMEOUT_S: Final = 1.5
QUICK_S: Final = 10.0
FLOOD_MARK: Final = "wc-torture: flood done"


def probes() -> set[int]:
    """Live processes running this checkout's probe (forked children of a probe included)."""
    found = set()
    for proc in psutil.process_iter(["pid", "cmdline"]):
        if str(paths.PROBE) in (proc.info["cmdline"] or []):
            found.add(proc.info["pid"])
    return found


def leaked_probes(before: set[int], settle_s: float = 5.0) -> set[int]:
    """Probe processes that appeared and are still alive `settle_s` later (others' cells end)."""
    deadline = time.monotonic() + settle_s
    while (new := probes() - before) and time.monotonic() < deadline:
        time.sleep(0.25)
    return new


def our_containers() -> list[str]:
    client = docker.from_env()
    try:
        found = client.containers.list(all=True, sparse=True, filters={"label": LABEL_OWNER})
        mine = f":{os.getpid()}"
        return [str(c.id) for c in found if str(c.attrs["Labels"][LABEL_OWNER]).endswith(mine)]
    finally:
        client.close()


def run(scenarios: Sequence[Path], backend: str, results: Path) -> RunSummary:
    targets = (TARGET,) if backend == "docker" else None
    request = RunRequest(
        scenarios=tuple(scenarios), backend=backend, results_root=results, targets=targets
    )
    return execute(request)


def misclassified(results: Sequence[CellResult]) -> list[str]:
    """Every way a cell's result departs from what its torture scenario says it must be."""
    wrong = []
    for result in results:
        scenario = result.cell.scenario
        outcome = result.outcome
        why = []
        if not outcome.matches_expectation:
            why.append(
                f"verdict {outcome.verdict}/{outcome.subkind}, expected {result.cell.expected}"
            )
        if scenario in DETAILS and DETAILS[scenario] not in outcome.detail:
            why.append(f"detail {outcome.detail!r} lacks {DETAILS[scenario]!r}")
        limit = HANG_TIMEOUT_S + 5.0 if scenario in HANGS else QUICK_S
        if scenario == "torture-flood":
            limit = 120.0
            if not result.outcome.stdout_tail.rstrip().endswith(FLOOD_MARK):
                why.append(f"stdout tail {result.outcome.stdout_tail[-80:]!r} lost the last line")
            if len(result.outcome.stdout_tail) > 4000 or len(result.outcome.stderr_tail) > 4000:
                why.append("a tail longer than the 4000 bytes asked for")
        if scenario in HANGS and result.outcome.duration_s < HANG_TIMEOUT_S:
            why.append(f"a hang that ended after {result.outcome.duration_s} s")
        if result.outcome.duration_s > limit:
            why.append(f"took {result.outcome.duration_s} s (at most {limit})")
        if why:
            wrong.append(f"{result.id}: {'; '.join(why)}")
    return wrong


def check_run(
    summary: RunSummary, cells_per_scenario: int, scenarios: Sequence[Path] = SCENARIOS
) -> Counter[str]:
    # results.json, not the in-memory summary: that one keeps the tails only of unexpected
    # cells, and the flood's last line is checked in a passing cell's tail.
    _, results = load_results(summary.results_path)
    counts = Counter(str(r.outcome.verdict) for r in results)
    assert len(results) == cells_per_scenario * len(scenarios)
    assert misclassified(results) == []
    if len(scenarios) == len(SCENARIOS):
        # Every verdict kind but the harness's own failure.
        assert set(counts) == {str(v) for v in Verdict} - {Verdict.INFRA_ERROR}
    return counts


def test_every_torture_scenario_is_listed() -> None:
    names = {f"torture-{p.stem}" for p in SCENARIOS}
    assert (
        set(DETAILS)
        | HANGS
        | {"torture-pass", "torture-orphan", "torture-close-std"}
        | {"torture-flood"}
        == names
    )


def test_torture_on_the_local_backend(tmp_path: Path) -> None:
    before = probes()
    summary = run(SCENARIOS, "local", tmp_path)
    check_run(summary, 1)
    assert leaked_probes(before) == set()


# A container per scenario costs seconds: CI runs the nastiest on docker (the slow run, all).
DOCKER_CI: Final = tuple(
    TORTURE / f"{name}.toml"
    for name in (
        "segv",
        "hang-deaf",
        "hang-escaped-child",
        "orphan",
        "double-fault",
        "exit-segv",
        "version-not-found",
        "not-installable",
    )
)


@pytest.mark.docker
def test_torture_on_the_docker_backend(tmp_path: Path) -> None:
    summary = run(DOCKER_CI, "docker", tmp_path)
    check_run(summary, 1, DOCKER_CI)
    assert our_containers() == []


def repeated(into: Path, repeat: int) -> list[Path]:
    """Copies of the torture scenarios with `repeat` cells each, beside a copy of the fixture."""
    shutil.copytree(DATA / "fixtures" / "cpp" / "torture", into / "fixtures" / "cpp" / "torture")
    copies = []
    for scenario in SCENARIOS:
        copy = into / "scenarios" / scenario.name
        copy.parent.mkdir(parents=True, exist_ok=True)
        text = scenario.read_text().replace("[matrix]\n", f"[matrix]\nrepeat = {repeat}\n")
        copy.write_text(text)
        copies.append(copy)
    return copies


SLOW_REPEAT: Final = 42  # 24 scenarios × 42 = 1,008 cells per backend


@pytest.fixture(scope="module")
def slow_scenarios(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Path]]:
    yield repeated(tmp_path_factory.mktemp("torture-slow"), SLOW_REPEAT)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["local", pytest.param("docker", marks=pytest.mark.docker)])
def test_a_thousand_torture_cells(slow_scenarios: list[Path], backend: str, tmp_path: Path) -> None:
    before = probes()
    started = time.monotonic()
    summary = run(slow_scenarios, backend, tmp_path)
    counts = check_run(summary, SLOW_REPEAT)
    print(  # noqa: T201 (the figures quoted in README's reliability section)
        f"\n{backend}: {len(summary.results)} cells in {time.monotonic() - started:.0f} s: "
        f"{dict(sorted(counts.items()))}"
    )
    assert leaked_probes(before) == set()
    if backend == "docker":
        assert our_containers() == []
