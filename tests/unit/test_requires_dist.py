"""The Requires-Dist pre-check: given wheels that install without their dependencies must
bring every package they declare, for the target's Python, or the run stops before a cell."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cli import main
from harness.scenario.requires_dist import read_declared, target_environment, unmet
from tests.unit.helpers import build_wheel

PURE = "py3-none-any"


def declared(tmp_path: Path, project: str, version: str, requires: list[str]) -> Path:
    files = {f"{project.replace('-', '_')}/__init__.py": ""}
    return build_wheel(tmp_path, project, files, version=version, tag=PURE, requires=requires)


def test_requirements_no_wheel_of_the_set_meets_are_listed_per_wheel(tmp_path: Path) -> None:
    app = declared(
        tmp_path,
        "app",
        "1.0",
        [
            "lib-core>=2",  # met by Lib_Core 2.1 (names compare normalised)
            "old-backport; python_version < '3.8'",  # not for this Python
            "docs-theme; extra == 'docs'",  # an extra nobody asked for
            "plugin[fast]>=1",  # not in the set
            "numpy>=2",  # there, but too old
        ],
    )
    lib = declared(tmp_path, "Lib_Core", "2.1", [])
    numpy = declared(tmp_path, "numpy", "1.26.4", [])
    found = unmet([read_declared(p) for p in (app, lib, numpy)], target_environment("3.11", None))
    assert [(u.wheel, u.missing) for u in found] == [
        (app.name, ("plugin[fast]>=1", "numpy>=2 (given: 1.26.4)"))
    ]


def test_markers_are_evaluated_for_the_targets_python(tmp_path: Path) -> None:
    app = declared(tmp_path, "app", "1.0", ['tomli>=1.1; python_version < "3.11"'])
    wheels = [read_declared(app)]
    assert [u.missing for u in unmet(wheels, target_environment("3.9", "x86_64"))] == [
        ("tomli>=1.1",)
    ]
    assert unmet(wheels, target_environment("3.11", "x86_64")) == ()
    assert target_environment("3.9", "aarch64")["platform_machine"] == "aarch64"


def test_extras_asked_of_a_wheel_by_another_count(tmp_path: Path) -> None:
    app = declared(tmp_path, "app", "1.0", ["engine[fast]"])
    engine = declared(
        tmp_path, "engine", "3.0", ["simd-kernels; extra == 'fast'", "rare; extra == 'x'"]
    )
    found = unmet([read_declared(app), read_declared(engine)], target_environment(None, None))
    assert [(u.wheel, u.missing) for u in found] == [(engine.name, ("simd-kernels",))]


def test_check_stops_before_any_cell_naming_what_each_wheel_lacks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    polars = declared(tmp_path, "polars", "2.0.0", ["polars-runtime-32==2.0.0"])
    xgboost = declared(
        tmp_path,
        "xgboost",
        "3.0.0",
        ["numpy", "scipy", "nvidia-nccl-cu12; platform_machine == 'nothere'"],
    )
    numpy = declared(tmp_path, "numpy", "2.1.0", [])
    results = tmp_path / "results"
    argv = ["check", str(polars), str(xgboost), str(numpy), "--backend", "local"]
    code = main([*argv, "--results", str(results)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert f"  {polars.name}: polars-runtime-32==2.0.0\n" in err
    assert f"  {xgboost.name}: scipy\n" in err
    assert "numpy.whl" not in err and "nvidia" not in err
    assert "--download" in err and "give their wheels too" in err
    assert not results.exists(), "no cell may run"
