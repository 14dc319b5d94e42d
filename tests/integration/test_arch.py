"""Foreign arches through qemu-user, the binfmt runbook, and a second engine endpoint."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any

import docker
import jsonschema
import pytest

from harness import paths
from harness.cli import main
from harness.images import binfmt
from tests.integration.conftest import SCENARIOS, cells_in

pytestmark = pytest.mark.docker

SCHEMA = json.loads(paths.RESULTS_SCHEMA.read_text())
ARCH_TESTS = "WHEELCLASH_ARCH_TESTS"  # opt-in for the emulated-arch runs (slow to bootstrap)


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code = main(["run", *args, "--json"])
    return code, json.loads(capsys.readouterr().out)


def wheel_platform(path: str) -> str:
    with zipfile.ZipFile(path) as wheel:
        name = next(n for n in wheel.namelist() if n.endswith(".dist-info/WHEEL"))
        tags = [ln for ln in wheel.read(name).decode().splitlines() if ln.startswith("Tag:")]
    return tags[0].rsplit("-", 1)[-1]


@pytest.mark.skipif(
    os.environ.get(ARCH_TESTS, "") != "1",
    reason=f"emulated aarch64 images take 25+ minutes to bootstrap under qemu; set {ARCH_TESTS}=1 "
    "to run (README: Other arches)",
)
def test_mechanisms_on_aarch64_bookworm_under_qemu(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Mechanisms 1 and 2 reproduce on arm64 as on x86_64: same cells crash, same step."""
    scenarios = [str(SCENARIOS / "call-once.toml"), str(SCENARIOS / "first-loader-hijack.toml")]
    code, document = run_json(
        capsys,
        *scenarios,
        "--backend",
        "docker",
        "--target",
        "debian:bookworm",
        "--arch",
        "aarch64",
        "--results",
        str(tmp_path),
    )
    jsonschema.validate(document, SCHEMA)
    cells = cells_in(document)
    assert code == 0, [c.id for c in cells if not c.outcome.matches_expectation]
    assert len(cells) == 24
    assert all(c.cell.arch == "aarch64" and c.cell.emulated for c in cells)
    crashing = {
        f"{c.cell.scenario} {c.outcome.last_step}" for c in cells if c.outcome.verdict == "segfault"
    }
    assert crashing == {
        "call-once import wc_call_once_b",
        "first-loader-hijack import wc_call_once_b",
    }
    assert sum(c.outcome.verdict == "segfault" for c in cells) == 4 + 2
    (facts,) = document["provenance"]["targets"]
    assert facts["arch"] == "aarch64" and facts["emulated"] and facts["glibc"] == "glibc 2.36"
    for wheel in document["provenance"]["wheels"]:
        assert wheel["builder"] == "debian:bookworm/aarch64 builder"
        assert wheel_platform(wheel["path"]).endswith("_aarch64"), wheel["path"]


@pytest.mark.skipif(
    os.environ.get(ARCH_TESTS, "") != "1",
    reason=f"needs the emulated aarch64 images (25+ minutes cold); set {ARCH_TESTS}=1 to run",
)
def test_static_tls_verdict_differs_by_arch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same 1696-byte initial-exec TLS block fits x86_64's surplus, not aarch64's."""
    code, document = run_json(
        capsys, str(SCENARIOS / "by-hand" / "static-tls-arch.toml"), "--results", str(tmp_path)
    )
    jsonschema.validate(document, SCHEMA)
    assert code == 0
    found = {
        (c.cell.arch, c.outcome.verdict, c.outcome.subkind, c.cell.emulated)
        for c in cells_in(document)
    }
    assert found == {
        ("x86_64", "pass", None, False),
        ("aarch64", "import-error", "static-tls", True),
    }


def test_missing_binfmt_registration_is_a_runbook_not_a_verdict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = tmp_path / "binfmt_misc"
    fake.mkdir()
    (fake / "status").write_text("enabled\n")  # mounted, but nothing registered
    monkeypatch.setattr(binfmt, "BINFMT_MISC", fake)
    results = tmp_path / "results"
    code = main(
        [
            "run",
            str(SCENARIOS / "first-loader-hijack.toml"),
            "--backend",
            "docker",
            "--target",
            "debian:bookworm",
            "--arch",
            "s390x",
            "--results",
            str(results),
        ]
    )
    err = capsys.readouterr().err
    assert code == 3
    assert "no qemu-user interpreter is registered for s390x" in err
    assert "apt-get install qemu-user-static" in err and "--engine s390x=URL" in err
    assert "Traceback" not in err
    assert not list(results.glob("*/cells.jsonl")), "no cell may run, so none can be blamed"


def test_an_arch_mapped_to_another_engine_runs_there(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], second_engine: tuple[str, Path]
) -> None:
    url, log = second_engine
    code, document = run_json(
        capsys,
        str(SCENARIOS / "first-loader-hijack.toml"),
        "--backend",
        "docker",
        "--target",
        "debian:bookworm",
        "--engine",
        f"x86_64={url}",
        "--results",
        str(tmp_path),
    )
    jsonschema.validate(document, SCHEMA)
    assert code == 0
    (facts,) = document["provenance"]["targets"]
    assert facts["engine"] == url and not facts["emulated"]
    assert document["provenance"]["backends"]["docker"]["engines"] == f"x86_64={url}"
    requests = log.read_text().splitlines()
    created = [r for r in requests if r.startswith("POST") and r.endswith("/containers/create")]
    execs = [r for r in requests if r.startswith("POST") and "/exec" in r]
    # The target's container, made through the endpoint; with a cold wheel cache also the
    # builder containers: every one goes through it.
    assert len(created) >= 1, requests
    assert len(execs) >= 4  # facts, venv, pip, the batch
    assert all(not c.cell.emulated for c in cells_in(document))


def test_healthy_set_on_i686(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A second arch end to end: i686 images (native on x86_64, no qemu) with their platform."""
    code, document = run_json(
        capsys,
        str(SCENARIOS / "healthy.toml"),
        "--backend",
        "docker",
        "--target",
        "debian:bookworm",
        "--arch",
        "i686",
        "--results",
        str(tmp_path),
    )
    jsonschema.validate(document, SCHEMA)
    assert code == 0
    cells = cells_in(document)
    assert {c.outcome.verdict for c in cells} == {"pass"}
    assert len(cells) == 24
    (facts,) = document["provenance"]["targets"]
    assert facts["arch"] == "i686" and not facts["emulated"] and facts["glibc"] == "glibc 2.36"
    for wheel in document["provenance"]["wheels"]:
        assert wheel_platform(wheel["path"]).endswith("_i686"), wheel["path"]
    image = docker.from_env().images.get(facts["image_id"])
    assert image.attrs["Architecture"] == "386"  # loaded with its own platform
