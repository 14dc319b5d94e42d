"""-j with the docker backend: two containers at once, results in plan order, none left."""

from __future__ import annotations

import json
import os
from pathlib import Path

import docker
import pytest

from harness.cli import main
from harness.common.ids import CellId
from harness.images.containers import LABEL_OWNER
from tests.integration.conftest import SCENARIOS, cells_in

pytestmark = pytest.mark.docker


def test_two_jobs_run_two_targets_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "run",
            str(SCENARIOS / "call-once.toml"),
            "--backend",
            "docker",
            "--target",
            "debian:bookworm,debian:trixie",
            "-j",
            "2",
            "--results",
            str(tmp_path),
            "--json",
        ]
    )
    document = json.loads(capsys.readouterr().out)
    assert code == 0
    cells = cells_in(document)
    assert [c.cell.index for c in cells] == list(range(32))
    crashing = {str(CellId.parse(c.id).logical) for c in cells if c.outcome.verdict != "pass"}
    assert crashing == {
        f"call-once/debian-{suite}-x86_64/global:a/{host}/a,b"
        for suite in ("bookworm", "trixie")
        for host in ("plain", "preload-libstdcxx")
    }
    logical = {c.id: str(CellId.parse(c.id).logical) for c in cells}
    assert {c.outcome.verdict for c in cells if logical[c.id] in crashing} == {"segfault"}
    engine = docker.from_env()
    try:
        mine = [
            c
            for c in engine.containers.list(all=True, sparse=True, filters={"label": LABEL_OWNER})
            if str(c.attrs["Labels"][LABEL_OWNER]).endswith(f":{os.getpid()}")
        ]
    finally:
        engine.close()
    assert mine == [], "a -j run left its containers behind"
