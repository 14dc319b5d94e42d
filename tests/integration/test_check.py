"""`wheelclash check` on real wheels: fixture wheels given only as .whl files, and small real
wheels from PyPI downloaded into a wheelhouse and installed offline in the container."""

from __future__ import annotations

import json
import secrets
import subprocess
from collections import defaultdict
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from harness import paths
from harness.analysis import reproducer
from harness.cells.backends.docker import DockerBackend
from harness.cli import main
from tests.integration.conftest import built_for, cells_in, probes_watched

SCHEMA = json.loads(paths.RESULTS_SCHEMA.read_text())


def check_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code = main(["check", *args, "--json"])
    out, _ = capsys.readouterr()
    document: dict[str, Any] = json.loads(out)
    jsonschema.validate(document, SCHEMA)
    return code, document


def verdicts(document: dict[str, Any]) -> dict[tuple[str, str], set[str]]:
    """Verdicts by (dlopen, order) over every cell."""
    found: dict[tuple[str, str], set[str]] = defaultdict(set)
    for cell in cells_in(document):
        found[(cell.cell.dlopen, ",".join(cell.cell.order))].add(cell.outcome.verdict)
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
        ("local", "wc_call_once_a"): {"pass"},  # each wheel alone, in each mode
        ("local", "wc_call_once_b"): {"pass"},
        ("local", "wc_call_once_a,wc_call_once_b"): {"pass"},
        ("local", "wc_call_once_b,wc_call_once_a"): {"pass"},
        ("global:wc_call_once_a", "wc_call_once_a"): {"pass"},
        ("global:wc_call_once_a", "wc_call_once_b"): {"pass"},
        ("global:wc_call_once_a", "wc_call_once_a,wc_call_once_b"): {"segfault"},
        ("global:wc_call_once_a", "wc_call_once_b,wc_call_once_a"): {"pass"},
    }
    # neither wheel crashes alone: the crash is the pair's
    [crash] = [c for c in cells_in(document) if c.outcome.verdict == "segfault"]
    assert crash.attribution is not None
    assert crash.attribution.culprits == ("wc_call_once_a", "wc_call_once_b")
    assert crash.attribution.failure_kind == "cross-wheel"
    assert document["attribution"]["runs"] == 0  # the singleton cells told
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

    code, document = check_json(
        capsys, str(hijack["s"].path), str(hijack["b"].path), "--no-singletons", *common
    )
    assert code == 1
    assert verdicts(document) == {
        ("local", "wc_healthy_s,wc_call_once_b"): {"segfault"},
        ("local", "wc_call_once_b,wc_healthy_s"): {"pass"},
    }
    # without singleton cells, attribution ran each wheel alone itself
    assert document["attribution"]["runs"] == 2


@pytest.mark.docker
def test_check_downloads_small_real_wheels_then_runs_offline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("markupsafe\n\n# and a YAML parser\npyyaml  # with its C extension\n")
    constraints = tmp_path / "constraints.txt"
    constraints.write_text("msgpack<1.1\n")
    code, document = check_json(
        capsys,
        "msgpack",
        "--download",
        "--requirements",
        str(requirements),
        "--constraint",
        str(constraints),
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
    cells = [c.outcome for c in cells_in(document)]
    assert len(cells) == 6 + 3  # three pairs, both orders, and each wheel alone
    assert {c.verdict for c in cells} == {"pass"}, [c.stderr_tail for c in cells]
    assert code == 0
    wheels = document["provenance"]["wheels"]
    assert {w["wheel_id"] for w in wheels} == {"msgpack", "markupsafe", "pyyaml"}
    assert all(w["wheelhouse"] and Path(w["path"]).is_file() for w in wheels)
    # The constraints file reached pip: msgpack's newest release is past 1.1.
    [msgpack] = [w for w in wheels if w["wheel_id"] == "msgpack"]
    assert Path(msgpack["path"]).name.startswith("msgpack-1.0."), msgpack["path"]
    imported = {c.last_step for c in cells}
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
        ("local", "wc_call_once_b"): {"pass"},
        ("local", "wc_healthy_s"): {"pass"},
        ("local", "wc_healthy_s,wc_call_once_b"): {"segfault"},
        ("local", "wc_call_once_b,wc_healthy_s"): {"pass"},
    }
    assert "2" in {f["mechanism"] for f in document["findings"]}
    # Like `run`, `check` writes the reports beside results.json.
    [run_dir] = [p for p in tmp_path.iterdir() if (p / "results.json").is_file()]
    assert "wc_healthy_s" in (run_dir / "report.html").read_text()
    assert "segfault" in (run_dir / "summary.md").read_text()

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
    found = {
        ",".join(c.cell.order): (c.outcome.verdict, c.outcome.last_step) for c in cells_in(document)
    }
    assert found == {
        "wc_call_once_b": ("wrong-result", "exercise snippet"),
        # s alone, then the snippet imports b: s before b, the hijack itself
        "wc_healthy_s": ("segfault", "exercise snippet"),
        "wc_call_once_b,wc_healthy_s": ("wrong-result", "exercise snippet"),
        "wc_healthy_s,wc_call_once_b": ("segfault", "import wc_call_once_b"),
    }
    wrong = next(
        c
        for c in cells_in(document)
        if len(c.cell.order) == 2 and c.outcome.verdict == "wrong-result"
    )
    assert "wrong on purpose" in wrong.outcome.detail
    # The snippet's check fails with b alone the same way: single-wheel, b (s alone crashes
    # in the snippet instead, which explains nothing). The crash while b imports after s is
    # the pair's: s alone crashes only later, in the snippet.
    assert wrong.attribution is not None
    assert (wrong.attribution.culprits, wrong.attribution.failure_kind) == (
        ("wc_call_once_b",),
        "single-wheel",
    )
    assert wrong.attribution.notes == ()
    [crash] = [c for c in cells_in(document) if c.id.endswith("wc_healthy_s,wc_call_once_b#1")]
    assert crash.attribution is not None
    assert crash.attribution.culprits == ("wc_healthy_s", "wc_call_once_b")
    assert crash.attribution.failure_kind == "cross-wheel"
    # Its stored reproducer runs the exercise code too, so it fails as the cell did.
    done = subprocess.run(
        wrong.cell.reproducer, shell=True, capture_output=True, text=True, check=False
    )
    assert done.returncode == 1, done.stderr
    assert "AssertionError: wrong on purpose" in done.stderr
    assert reproducer.DONE_MESSAGE not in done.stdout

    # Without --json, the summary `run` prints: the unexpected cell, how to reproduce it, and
    # where the reports are.
    code = main(
        [
            "check",
            str(hijack["b"].path),
            str(hijack["s"].path),
            "--backend",
            "local",
            "--no-victims",
            "--results",
            str(tmp_path / "text"),
        ]
    )
    out = capsys.readouterr().out
    assert code == 1
    assert "unexpected verdicts:" in out and "verdict segfault, expected pass" in out
    assert "wheelclash repro 'check/host/local/plain/wc_healthy_s,wc_call_once_b#1'" in out
    [html] = (tmp_path / "text").glob("*/report.html")
    assert f"report: {html} (summary: summary.md)" in out


@pytest.mark.docker
def test_check_runs_groups_at_once_on_the_engines_pyproject_names(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    second_engine: tuple[str, Path],
) -> None:
    """-j 2 with two targets: two containers, whose cells run at the same time, both made
    through the engine `[tool.wheelclash] engines` maps x86_64 to; --engine overrides it."""
    once = built_for("call-once", DockerBackend(), "debian:bookworm")
    url, log = second_engine
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        f'[tool.wheelclash]\nengines = {{ x86_64 = "{url}" }}\n'
    )
    monkeypatch.chdir(project)
    token = f"wheelclash-overlap-{secrets.token_hex(4)}"
    args = [str(once["a"].path), str(once["b"].path), "--backend", "docker", "--no-victims"]
    targets = ["--target", "debian:bookworm", "--target", "debian:trixie"]
    # Each cell sleeps 2 s after its imports; 3 repeats of 2 orders keep each container's
    # cells busy for 12 s, so the two groups overlap unless they run one after the other.
    slow = ["--exercise", f"import time; time.sleep(2)  # {token}", "--repeat", "3"]
    slow.append("--no-singletons")  # the orders alone: 12 cells, timed as the comment says
    with probes_watched(token) as counts:
        code, document = check_json(
            capsys, *args, *targets, *slow, "-j", "2", "--results", str(tmp_path / "r")
        )
    cells = cells_in(document)
    assert code == 0, [c.outcome.stderr_tail for c in cells]
    assert len(cells) == 12
    assert {c.cell.target for c in cells} == {"debian:bookworm", "debian:trixie"}
    assert max(counts) == 2, "two cells (one per container) should have run at once"
    assert document["provenance"]["backends"]["docker"]["engines"] == f"x86_64={url}"
    assert {t["engine"] for t in document["provenance"]["targets"]} == {url}
    requests = log.read_text().splitlines()
    created = [r for r in requests if r.startswith("POST") and r.endswith("/containers/create")]
    assert len(created) >= 2, requests  # both targets' containers, through pyproject's engine

    # --engine wins over pyproject's mapping: a context that does not exist is named.
    missing = "x86_64=wheelclash-no-such-context"
    again = ["--target", "debian:bookworm", "--engine", missing, "--results", str(tmp_path / "r2")]
    code = main(["check", *args, *again])
    assert code == 2
    assert "no docker context named 'wheelclash-no-such-context'" in capsys.readouterr().err
