"""Wheels reach the container bound read-only (local engine) or streamed from disk (remote
engine), against the real engine: the same verdicts either way, a bind nothing can write, and
big wheels that arrive whole."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import fields
from pathlib import Path
from typing import Any

import docker
import pytest

from harness.build.wheels import BuiltWheel
from harness.cells.backends.docker import ROOT, DockerBackend, DockerSession, load_settings
from harness.cells.backends.transfer import ENV, Transfer
from harness.cells.jobs import CellJob, Import
from harness.cli import main
from harness.common.verdicts import Verdict
from harness.evidence.classify import classify
from harness.images.containers import LABEL_OWNER, exec_text
from harness.run.runner import session_outcomes
from tests.integration.conftest import SCENARIOS, cells_in
from tests.wheelmaker import make_wheel

pytestmark = pytest.mark.docker

MODES = [Transfer.MOUNT, Transfer.STREAM]


def run_verdicts(capsys: pytest.CaptureFixture[str], results: Path) -> tuple[int, dict[str, str]]:
    """first-loader-hijack on bookworm in docker: the exit code and each cell's verdict."""
    scenario = str(SCENARIOS / "first-loader-hijack.toml")
    where = ["--backend", "docker", "--target", "debian:bookworm", "--results", str(results)]
    code = main(["run", scenario, *where, "--json"])
    document: dict[str, Any] = json.loads(capsys.readouterr().out)
    return code, {c.id: c.outcome.verdict for c in cells_in(document)}


def test_both_transfers_give_the_same_verdicts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    verdicts = {}
    for mode in MODES:
        monkeypatch.setenv(ENV, mode)
        code, verdicts[mode] = run_verdicts(capsys, tmp_path / mode)
        assert code == 0, (mode, verdicts[mode])
    assert verdicts[Transfer.MOUNT] == verdicts[Transfer.STREAM]
    assert set(verdicts[Transfer.MOUNT].values()) == {"pass", "segfault"}


def given(path: Path, module: str, wheelhouse: Path) -> BuiltWheel:
    """A given wheel as the backend takes it: only its file, module and wheelhouse matter."""
    data = {f.name: "" for f in fields(BuiltWheel) if f.type == "str"}
    data |= {"wheel_id": module, "module": module, "wheelhouse": str(wheelhouse)}
    return BuiltWheel.from_json({**data, "path": str(path)})


@pytest.fixture(scope="module")
def big_set(tmp_path_factory: pytest.TempPathFactory) -> tuple[BuiltWheel, ...]:
    """A 48 MiB wheel whose 32 MiB dependency is in a wheelhouse, both incompressible."""
    root = tmp_path_factory.mktemp("big")
    house = root / "house"
    house.mkdir()
    make_wheel(house, "big-dep", 32 << 20)
    wheel = make_wheel(root, "big-top", 48 << 20, requires=["big-dep"])
    return (given(wheel, "big_top", house),)


def shell(session: DockerSession, script: str, user: str) -> tuple[int, str]:
    return exec_text(session.container, ["sh", "-c", script], user=user, workdir="/")


@pytest.mark.parametrize("mode", MODES)
def test_big_wheels_arrive_whole_and_a_bound_wheel_cannot_be_written(
    mode: Transfer,
    big_set: tuple[BuiltWheel, ...],
    monkeypatch: pytest.MonkeyPatch,
    client: docker.DockerClient,
) -> None:
    monkeypatch.setenv(ENV, mode)
    settings = load_settings()
    [top] = big_set
    before = hashlib.sha256(top.path.read_bytes()).hexdigest()
    job = CellJob(
        cell_id="big",
        imports=tuple(Import(module=m, rtld_global=False) for m in ("big_top", "big_dep")),
        exercises=(),
        victims=False,
        preload="",
        timeout_s=60,
    )
    with DockerBackend().open("debian:bookworm", "x86_64", big_set) as session:
        assert isinstance(session, DockerSession)
        assert not session.not_installable
        [outcome] = list(session_outcomes(session, [job]))
        assert classify(outcome).verdict is Verdict.PASS, outcome
        # Both payloads installed whole, byte for byte.
        check = (
            "import big_top, big_dep, hashlib\n"
            "for m in (big_top, big_dep):\n"
            "    data = m.PAYLOAD.read_bytes()\n"
            "    assert len(data) == m.SIZE, (m, len(data))\n"
            "print('whole')\n"
        )
        code, output = shell(
            session, f'{settings.venv}/bin/python -c "{check}"', settings.supervisor_user
        )
        assert (code, output.strip()) == (0, "whole")
        bound = f"{settings.inputs_dir}/wheels/{top.path.name}"
        code, output = shell(session, f"ls {bound}", ROOT)
        assert (code == 0) is (mode is Transfer.MOUNT), output
        if mode is Transfer.MOUNT:
            # Read-only for everyone in the container, root included.
            for user in (ROOT, settings.supervisor_user, settings.confinement.user):
                code, output = shell(session, f"echo x >> {bound}", user)
                assert code != 0, (user, output)
                code, output = shell(session, f"rm -f {bound}", user)
                assert code != 0, (user, output)
            code, output = shell(session, f"touch {settings.inputs_dir}/wheels/new", ROOT)
            assert code != 0 and "Read-only file system" in output, output
    assert hashlib.sha256(top.path.read_bytes()).hexdigest() == before
    left = client.containers.list(all=True, sparse=True, filters={"label": LABEL_OWNER})
    assert not [c for c in left if str(c.attrs["Labels"][LABEL_OWNER]).endswith(f":{os.getpid()}")]
