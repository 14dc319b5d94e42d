"""Hostile wheels beyond tests/data/hostile's first three: the network, writing outside their
folder, escalating privileges. In a container each attempt must fail (the exercise checks that
itself and passes), the host must be untouched, and the second repeat must run normally. On the
unconfined local backend the same checks fail, which shows they can.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Final

import docker
import pytest

from harness.cli import main
from harness.evidence.results import CellResult
from harness.images.containers import LABEL_OWNER
from tests.integration.conftest import REPO, cells_in

HOSTILE: Final = REPO / "tests" / "data" / "hostile"
NAMES: Final = ("network", "write-outside", "escalate")
MARKER: Final = "wheelclash-hostile-was-here"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[CellResult]]:
    code = main(["run", *args, "--json"])
    return code, cells_in(json.loads(capsys.readouterr().out))


@pytest.mark.docker
def test_hostile_attempts_fail_inside_the_container(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenarios = [str(HOSTILE / f"hostile-{n}.toml") for n in NAMES]
    code, cells = run(capsys, *scenarios, "--backend", "docker", "--results", str(tmp_path))
    assert code == 0, [(c.id, c.outcome.verdict, c.outcome.detail) for c in cells]
    assert len(cells) == 2 * len(NAMES)
    assert {(c.outcome.verdict, c.outcome.detail) for c in cells} == {("pass", "")}
    # The host is untouched: the marker went to the container's /tmp, and nowhere here.
    assert not any(Path(folder, MARKER).exists() for folder in ("/", "/tmp", "/etc", "/root"))
    client = docker.from_env()
    try:
        mine = client.containers.list(all=True, filters={"label": LABEL_OWNER})
        assert [c for c in mine if c.labels[LABEL_OWNER].endswith(f":{os.getpid()}")] == []
    finally:
        client.close()


def test_the_escalation_check_can_fail(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Unconfined, on this machine, the same exercise finds a way up (or no no_new_privs)."""
    scenario = str(HOSTILE / "hostile-escalate.toml")
    code, cells = run(capsys, scenario, "--backend", "local", "--results", str(tmp_path))
    assert code == 1
    outcomes = [c.outcome for c in cells]
    assert {o.verdict for o in outcomes} == {"wrong-result"}
    assert all("worked" in o.detail or "no_new_privs" in o.detail for o in outcomes), cells
