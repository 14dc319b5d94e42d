"""pip's refusals of a wheel set, read from pip's own output, are verdicts on the wheels."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from harness.cells.install import install_command, refusal
from tests.unit.helpers import build_wheel

ANY = "py3-none-any"


def pip_install(tmp_path: Path, wheels: list[Path]) -> subprocess.CompletedProcess[str]:
    command = install_command(
        [sys.executable, "-m", "pip"],
        [str(w) for w in wheels],
        [str(tmp_path)],
        target=str(tmp_path / "site"),
    )
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_conflicting_requirements_are_refused_with_pips_reason(tmp_path: Path) -> None:
    wants_two = build_wheel(
        tmp_path, "wc-wants", {"wc_wants.py": ""}, tag=ANY, requires=["wc-dep==2.0"]
    )
    dep_one = build_wheel(tmp_path, "wc-dep", {"wc_dep.py": ""}, tag=ANY)
    done = pip_install(tmp_path, [wants_two, dep_one])
    assert done.returncode != 0
    reason = refusal(done.stdout + done.stderr)
    assert "conflicting dependencies" in reason
    assert "wc-wants 1.0 depends on wc-dep==2.0" in reason
    assert "for help visit" not in reason


def test_a_missing_dependency_is_refused_too(tmp_path: Path) -> None:
    wants = build_wheel(
        tmp_path, "wc-lonely", {"wc_lonely.py": ""}, tag=ANY, requires=["wc-absent"]
    )
    done = pip_install(tmp_path, [wants])
    assert done.returncode != 0
    assert "wc-absent" in refusal(done.stdout + done.stderr)


def test_a_wheel_for_another_platform_is_refused_by_its_line(tmp_path: Path) -> None:
    other = build_wheel(tmp_path, "wc-other", {"wc_other.py": ""}, tag="cp27-cp27m-win32")
    done = pip_install(tmp_path, [other])
    assert refusal(done.stdout + done.stderr).endswith("is not a supported wheel on this platform.")
