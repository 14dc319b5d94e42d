"""Progress from the real CLI: plain lines in a log, a live display on a real terminal, none
with -q, and stdout left to --json; and mmdebstrap-style output read phase by phase."""

from __future__ import annotations

import json
import platform
import re
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from harness.common import progress
from harness.common.progress import Event, StageAdvanced, StageEnded, StageKind
from harness.errors import InfrastructureError
from harness.images import provision
from harness.images.bootstrap_phases import load_phases
from harness.images.phased import run_phased
from tests.integration.cli_process import CliSpawner

# Two fixture wheels, two orders, two modes: four cells, one of them (b global, then a)
# whatever the fixtures make of it; what matters here is what is printed while they run.
SCENARIO = """\
name = "progress-pair"
description = "two fixture wheels, for progress output"

[[wheels]]
id = "a"
fixture = "healthy"

[[wheels]]
id = "b"
fixture = "call_once"

[matrix]
dlopen = ["local", "global:b"]
"""
CELLS = 4
LINE = re.compile(r"^wheelclash: (\S+) (.*?): (started|done in|failed after)(.*)$")


def _scenario(tmp_path: Path) -> Path:
    path = tmp_path / "progress-pair.toml"
    path.write_text(SCENARIO)
    return path


def _run(
    spawn_cli: CliSpawner, tmp_path: Path, *args: str | Path, env: dict[str, str]
) -> tuple[int, str, str]:
    proc = spawn_cli("run", _scenario(tmp_path), "--results", tmp_path / "results", *args, env=env)
    out, err = proc.communicate(timeout=600)
    return proc.returncode, out, err


def _stages(err: str) -> dict[tuple[str, str], list[str]]:
    """(kind, label) -> what its lines said: started, done in, failed after."""
    found: dict[tuple[str, str], list[str]] = {}
    for line in err.splitlines():
        match = LINE.match(line)
        if match:
            found.setdefault((match[1], match[2]), []).append(match[3])
    return found


def test_plain_progress_on_stderr_and_clean_json_on_stdout(
    spawn_cli: CliSpawner, tmp_path: Path
) -> None:
    """A cold cache (its own), so the wheels are built and the venv made while we watch."""
    env = {"WHEELCLASH_CACHE": str(tmp_path / "cache"), "WHEELCLASH_PROGRESS_INTERVAL": "0"}
    code, out, err = _run(
        spawn_cli, tmp_path, "--backend", "local", "--progress", "plain", "--json", env=env
    )
    assert code in (0, 1), err
    document = json.loads(out)  # stdout is the JSON document and nothing else
    assert len(document["cells"]) == CELLS
    stages = _stages(err)
    builds = {label for kind, label in stages if kind == "build"}
    assert builds == {"a: healthy with gcc on host", "b: call_once with gcc on host"}
    assert stages[("open", "venv with a, b")] == ["started", "done in"]
    assert stages[("cells", "progress-pair")] == ["started", "done in"]
    assert all(said == ["started", "done in"] for said in stages.values()), stages
    # Every stage ends before the next one of the pipeline starts, except the venv, which
    # opens while the cells stage is under way.
    lines = err.splitlines()
    assert lines.index("wheelclash: cells progress-pair: started (4 cells)") > max(
        i for i, line in enumerate(lines) if line.startswith("wheelclash: build ")
    )
    # Interval 0: a line after every cell, counting up to all of them.
    counts = re.findall(r"^wheelclash: cells: (\d+)/(\d+) ", err, re.MULTILINE)
    assert [int(done) for done, _ in counts] == list(range(1, CELLS + 1))
    assert {int(total) for _, total in counts} == {CELLS}
    end = next(line for line in lines if line.startswith("wheelclash: cells progress-pair: done"))
    assert re.search(r"done in \d+\.\d s \(4/4, (no failures|\d+ failed \(.+\))\)$", end), end


def test_quiet_prints_no_progress_and_auto_without_a_terminal_is_plain(
    spawn_cli: CliSpawner, tmp_path: Path
) -> None:
    env = {"WHEELCLASH_CACHE": str(tmp_path / "cache"), "WHEELCLASH_PROGRESS_INTERVAL": "0"}
    code, out, err = _run(spawn_cli, tmp_path, "--backend", "local", "-q", env=env)
    assert code in (0, 1), err
    assert "wheelclash: " not in err  # the wheels were built, the cells ran: nothing said
    assert not _stages(err)
    assert "cells:" in out  # the summary is still printed, on stdout
    code, _, err = _run(spawn_cli, tmp_path, "--backend", "local", env=env)
    assert code in (0, 1), err
    assert _stages(err)[("cells", "progress-pair")] == ["started", "done in"]


def test_a_real_terminal_gets_the_live_display(spawn_cli: CliSpawner, tmp_path: Path) -> None:
    """stderr on a pseudo-terminal: `auto` picks the live display, drawn with escapes."""
    env = {"WHEELCLASH_CACHE": str(tmp_path / "cache"), "COLUMNS": "160", "TERM": "xterm"}
    code, out, shown = spawn_cli.on_terminal(
        "run", _scenario(tmp_path), "--results", tmp_path / "results", "--backend", "local",
        "--json", env=env, timeout=600,
    )  # fmt: skip
    assert code in (0, 1), shown[-2000:]
    assert len(json.loads(out)["cells"]) == CELLS
    assert "\x1b[" in shown and "wheelclash: " not in shown  # live, not plain lines
    for text in ("build", "a: healthy with gcc on host", "open", "venv with a, b", "cells"):
        assert text in shown
    assert re.search(r"progress-pair: done in \d+\.\d s \(4/4, ", shown)


@pytest.mark.docker
def test_plain_progress_of_a_docker_run(spawn_cli: CliSpawner, tmp_path: Path) -> None:
    """The container stage: made, wheels copied in and installed, before its cells."""
    env = {"WHEELCLASH_PROGRESS_INTERVAL": "0"}
    code, out, err = _run(
        spawn_cli,
        tmp_path,
        "--backend",
        "docker",
        "--target",
        "debian:bookworm",
        "--progress",
        "plain",
        "--json",
        env=env,
    )
    assert code in (0, 1), err
    assert len(json.loads(out)["cells"]) == CELLS
    stages = _stages(err)
    assert stages[("open", "container debian:bookworm (x86_64) with a, b")] == [
        "started",
        "done in",
    ]
    assert stages[("cells", "progress-pair")] == ["started", "done in"]
    assert len(re.findall(r"^wheelclash: cells: \d+/4 ", err, re.MULTILINE)) == CELLS


# mmdebstrap's output, read as it comes -----------------------------------------------------


def _fake_bootstrap(tmp_path: Path, lines: list[str], pause: float, code: int) -> list[str]:
    """A real process that prints `lines` as mmdebstrap would (stderr, a pause between)."""
    script = tmp_path / "bootstrap.py"
    script.write_text(
        "import sys, time\n"
        f"for line in {lines!r}:\n"
        "    print(line, file=sys.stderr, flush=True)\n"
        f"    time.sleep({pause})\n"
        f"sys.exit({code})\n"
    )
    return [sys.executable, str(script)]


def test_phases_are_reported_as_the_lines_arrive(tmp_path: Path) -> None:
    lines = [
        "I: running apt-get update...",
        "Get:1 http://deb.debian.org/debian bookworm InRelease",
        "I: downloading packages with apt...",
        "I: extracting archives...",
        "I: creating tarball...",
        "I: done",
    ]
    seen: list[tuple[float, Event]] = []
    command = _fake_bootstrap(tmp_path, lines, 0.3, 0)
    with (
        progress.reporting(lambda event: seen.append((time.monotonic(), event))),
        progress.stage(StageKind.BOOTSTRAP, "fake", total=8) as step,
    ):
        done = run_phased(command, load_phases(), step, 60)
    assert done.returncode == 0 and not done.timed_out
    assert done.tail.splitlines() == lines
    advanced = [(t, e) for t, e in seen if isinstance(e, StageAdvanced)]
    assert [(e.done, e.note) for _, e in advanced] == [
        (0, "updating package lists"),
        (1, "downloading packages"),
        (2, "extracting archives"),
        (7, "writing the tarball"),
        (8, "done"),
    ]
    # Each phase was reported when its line came (0.3 s apart), not all when it ended.
    assert advanced[3][0] - advanced[0][0] > 0.5


def test_a_command_past_its_time_is_killed_and_says_so(tmp_path: Path) -> None:
    command = _fake_bootstrap(tmp_path, ["I: running apt-get update..."], 30, 0)
    began = time.monotonic()
    with progress.stage(StageKind.BOOTSTRAP, "slow", total=8) as step:
        done = run_phased(command, load_phases(), step, timeout=1)
    assert done.timed_out and done.returncode != 0
    assert time.monotonic() - began < 20


def test_a_failing_mmdebstrap_ends_its_stage_failed_with_its_output(tmp_path: Path) -> None:
    """The real mmdebstrap against a mirror nobody serves: it fails at once, the stage says
    so, and the error carries the tail of what mmdebstrap printed."""
    recipe = replace(provision.recipe_for("bookworm", "x86_64"), mirror="http://127.0.0.1:9/debian")
    command = provision.mmdebstrap_command(recipe, tmp_path / "rootfs.tar", tmp_path / "v.tsv")
    seen: list[Event] = []
    with progress.reporting(seen.append), pytest.raises(InfrastructureError) as raised:
        provision._run_mmdebstrap(command, recipe)
    assert "mmdebstrap failed" in str(raised.value)
    assert "127.0.0.1" in (raised.value.context or "")
    ended = [e for e in seen if isinstance(e, StageEnded)]
    assert len(ended) == 1 and not ended[0].ok
    assert ended[0].stage.label == recipe.tag and ended[0].stage.kind is StageKind.BOOTSTRAP
    # It got as far as the package lists, the first phase.
    notes = [e.note for e in seen if isinstance(e, StageAdvanced)]
    assert notes == ["updating package lists"]


def test_downloads_are_stages_of_check(spawn_cli: CliSpawner, tmp_path: Path) -> None:
    """`check --download` with an empty cache: each requirement's download is a stage."""
    env = {"WHEELCLASH_CACHE": str(tmp_path / "cache")}
    proc = spawn_cli(
        "check",
        "markupsafe",
        "msgpack",
        "--download",
        "--backend",
        "local",
        "--no-victims",
        "--results",
        tmp_path / "results",
        "--progress",
        "plain",
        "--json",
        env=env,
    )
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    assert json.loads(out)["cells"]
    stages = _stages(err)
    python = f"CPython {sys.version_info.major}.{sys.version_info.minor}"
    for name in ("markupsafe", "msgpack"):
        label = f"{name} for {python} ({platform.machine()})"
        assert stages[("download", label)] == ["started", "done in"]
    assert stages[("open", "venv with markupsafe, msgpack")] == ["started", "done in"]
    assert stages[("cells", "check")] == ["started", "done in"]
