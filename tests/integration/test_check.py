"""`wheelclash check` on real wheels: fixture wheels given only as .whl files, and small real
wheels from PyPI downloaded into a wheelhouse and installed offline in the container."""

from __future__ import annotations

import json
import subprocess
from collections import defaultdict
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from harness import paths
from harness.analysis import reproducer
from harness.build.toolchains import load_catalogue
from harness.build.wheels import BuiltWheel
from harness.cells.backends.docker import DockerBackend
from harness.cli import main
from harness.run.runner import wheels_for
from harness.scenario.load import load_scenario
from harness.scenario.plan import plan
from tests.integration.conftest import SCENARIOS

SCHEMA = json.loads(paths.RESULTS_SCHEMA.read_text())


def built_for(name: str, backend: Any, target: str) -> dict[str, BuiltWheel]:
    scenario = load_scenario(SCENARIOS / f"{name}.toml", load_catalogue())
    cell = plan(scenario, targets=[target])[0]
    return {w.wheel_id: w for w in wheels_for(scenario, cell, backend)}


def check_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code = main(["check", *args, "--json"])
    out, _ = capsys.readouterr()
    document: dict[str, Any] = json.loads(out)
    jsonschema.validate(document, SCHEMA)
    return code, document


def verdicts(document: dict[str, Any]) -> dict[tuple[str, str], set[str]]:
    """Verdicts by (dlopen, order) over every cell."""
    found: dict[tuple[str, str], set[str]] = defaultdict(set)
    for cell in document["cells"]:
        found[(cell["dlopen"], ",".join(cell["order"]))].add(cell["verdict"])
    return found


@pytest.mark.docker
def test_check_finds_the_crashes_of_fixture_wheels_in_the_right_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    backend = DockerBackend()
    once = built_for("call-once", backend, "debian:bookworm")
    hijack = built_for("first-loader-hijack", backend, "debian:bookworm")
    saved = tmp_path / "saved.toml"
    common = ["--target", "debian:bookworm", "--backend", "docker", "--results", str(tmp_path)]
    code, document = check_json(
        capsys,
        str(once["a"].path),
        str(once["b"].path),
        "--dlopen",
        "local,global:wc_call_once_a",
        "--write-scenario",
        str(saved),
        *common,
    )
    assert code == 1
    assert verdicts(document) == {
        ("local", "wc_call_once_a,wc_call_once_b"): {"pass"},
        ("local", "wc_call_once_b,wc_call_once_a"): {"pass"},
        ("global:wc_call_once_a", "wc_call_once_a,wc_call_once_b"): {"segfault"},
        ("global:wc_call_once_a", "wc_call_once_b,wc_call_once_a"): {"pass"},
    }
    hashes = {w["sha256"] for w in document["provenance"]["wheels"]}
    assert {once["a"].sha256, once["b"].sha256} <= hashes
    assert {w["toolchain"] for w in document["provenance"]["wheels"]} == {"given"}
    mechanisms = {f["mechanism"] for f in document["findings"]}
    assert "1" in mechanisms
    assert {"mechanism": "1", "predicted": True, "observed": True} in [
        {k: row[k] for k in ("mechanism", "predicted", "observed")} for row in document["agreement"]
    ]

    # The saved scenario runs again with `wheelclash run`, to the same verdicts.
    code = main(["run", str(saved), "--results", str(tmp_path), "--json", *common[:4]])
    again = json.loads(capsys.readouterr().out)
    assert code == 1 and verdicts(again) == verdicts(document)

    code, document = check_json(capsys, str(hijack["s"].path), str(hijack["b"].path), *common)
    assert code == 1
    assert verdicts(document) == {
        ("local", "wc_healthy_s,wc_call_once_b"): {"segfault"},
        ("local", "wc_call_once_b,wc_healthy_s"): {"pass"},
    }


@pytest.mark.docker
def test_check_downloads_small_real_wheels_then_runs_offline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, document = check_json(
        capsys,
        "msgpack",
        "markupsafe",
        "pyyaml",
        "--download",
        "--pairs",
        "--exercise",
        "import msgpack, markupsafe, yaml; "
        "assert msgpack.unpackb(msgpack.packb([1, 'x'])) == [1, 'x']; "
        "assert str(markupsafe.escape('<')) == '&lt;'",
        "--target",
        "debian:bookworm",
        "--backend",
        "docker",
        "--results",
        str(tmp_path),
    )
    cells = document["cells"]
    assert len(cells) == 6  # three pairs, both orders
    assert {c["verdict"] for c in cells} == {"pass"}, [c["stderr_tail"] for c in cells]
    assert code == 0
    wheels = document["provenance"]["wheels"]
    assert {w["wheel_id"] for w in wheels} == {"msgpack", "markupsafe", "pyyaml"}
    assert all(w["wheelhouse"] and Path(w["path"]).is_file() for w in wheels)
    imported = {c["last_step"] for c in cells}
    assert imported  # the probe reached its last step in each cell
    target = document["provenance"]["targets"][0]
    assert target["target"] == "debian:bookworm" and target["python"].startswith("3.11")


def test_check_on_this_machine_reports_the_first_loader_hijack(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from harness.cells.backends.local import LocalBackend

    hijack = built_for("first-loader-hijack", LocalBackend(), "host")
    code, document = check_json(
        capsys,
        str(hijack["b"].path),
        str(hijack["s"].path),
        "--backend",
        "local",
        "--no-victims",
        "--results",
        str(tmp_path),
    )
    assert code == 1
    assert verdicts(document) == {
        ("local", "wc_healthy_s,wc_call_once_b"): {"segfault"},
        ("local", "wc_call_once_b,wc_healthy_s"): {"pass"},
    }
    assert "2" in {f["mechanism"] for f in document["findings"]}

    # The exercise runs after the imports; a failing check in it is a wrong result.
    code, document = check_json(
        capsys,
        str(hijack["b"].path),
        str(hijack["s"].path),
        "--exercise",
        "import wc_call_once_b\nwc_call_once_b.exercise()\nassert 1 + 1 == 3, 'wrong on purpose'",
        "--backend",
        "local",
        "--no-victims",
        "--results",
        str(tmp_path),
    )
    assert code == 1
    found = {",".join(c["order"]): (c["verdict"], c["last_step"]) for c in document["cells"]}
    assert found == {
        "wc_call_once_b,wc_healthy_s": ("wrong-result", "exercise snippet"),
        "wc_healthy_s,wc_call_once_b": ("segfault", "import wc_call_once_b"),
    }
    wrong = next(c for c in document["cells"] if c["verdict"] == "wrong-result")
    assert "wrong on purpose" in wrong["detail"]
    # Its stored reproducer runs the exercise code too, so it fails as the cell did.
    done = subprocess.run(
        wrong["reproducer"], shell=True, capture_output=True, text=True, check=False
    )
    assert done.returncode == 1, done.stderr
    assert "AssertionError: wrong on purpose" in done.stderr
    assert reproducer.DONE_MESSAGE not in done.stdout
