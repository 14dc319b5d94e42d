"""The HTML report in a real browser: headless Chromium (Debian's `chromium`) renders it,
runs its filter script, takes a screenshot, and untrusted stderr never executes."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from harness.cli import main
from tests.integration.conftest import REPO

AFTER = REPO / "tests" / "data" / "baseline" / "after.toml"
# Would mark the page if it ran: a script element, an event handler, a closed <pre>.
PAYLOAD = (
    "</pre><script>document.body.dataset.pwned='script'</script>"
    "<img src=x onerror=\"document.body.dataset.pwned='img'\"><b>bold</b>"
)


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        message = "no chromium on PATH; ./bootstrap --test installs Debian's chromium"
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:  # as conftest.py
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return found


def browse(page: str, profile: Path, *mode: str) -> str:
    """Run headless Chromium on a file URL; its stdout (the DOM for --dump-dom)."""
    command = [chromium(), "--headless", "--disable-gpu", f"--user-data-dir={profile}", *mode]
    if os.geteuid() == 0:
        command.append("--no-sandbox")  # Chromium refuses to run as root with its sandbox
    done = subprocess.run(
        [*command, page], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real run's report, with one cell's stderr replaced by a hostile payload."""
    root = tmp_path_factory.mktemp("results")
    assert main(["run", str(AFTER), "--backend", "local", "--results", str(root)]) == 1
    (run_dir,) = root.iterdir()
    results = run_dir / "results.json"
    document = json.loads(results.read_text())
    healthy = next(c["outcome"] for c in document["cells"] if c["outcome"]["verdict"] == "pass")
    healthy["stderr_tail"] = PAYLOAD
    results.write_text(json.dumps(document))
    assert main(["report", str(run_dir)]) == 0
    return run_dir / "report.html"


def test_renders_with_its_script_and_stderr_stays_text(report: Path, tmp_path: Path) -> None:
    dom = browse(report.as_uri(), tmp_path, "--dump-dom")
    assert 'data-filters-ready="1"' in dom  # the page's own script ran
    assert "pwned" not in dom.split("<body", 1)[1].split(">", 1)[0]  # the payload did not
    assert "&lt;script&gt;document.body.dataset.pwned='script'&lt;/script&gt;" in dom
    assert "&lt;img src=x onerror=" in dom and "<b>bold</b>" not in dom
    assert "4 of 4 cells shown" in dom
    assert 'class="f v-segfault unexpected"' in dom
    assert "injected-regression/host/global:a/plain/a,b#1" in dom
    assert "reproduce without wheelclash" in dom and "RTLD_GLOBAL" in dom


def test_filters_hide_what_does_not_match(report: Path, tmp_path: Path) -> None:
    dom = browse(report.as_uri() + "#f:verdict=segfault", tmp_path, "--dump-dom")
    assert "1 of 4 cells shown" in dom
    assert dom.count('class="f v-pass off"') == 3  # the three passing matrix cells
    assert 'class="f v-segfault unexpected"' in dom  # still shown
    dom = browse(report.as_uri() + "#f:unexpected=1", tmp_path, "--dump-dom")
    assert "1 of 4 cells shown" in dom
    dom = browse(report.as_uri() + "#f:scenario=no-such-scenario", tmp_path, "--dump-dom")
    assert "4 of 4 cells shown" in dom  # an unknown value falls back to "all"


def test_screenshot(report: Path, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    browse(report.as_uri(), tmp_path / "profile", "--window-size=1280,1400", f"--screenshot={shot}")
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1280, 1400)
    assert len(data) > 20_000  # a rendered page, not a blank one
