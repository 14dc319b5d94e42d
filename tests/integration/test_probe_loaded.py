"""The probe tells which import step first loaded a victim's module: a wheel that imports
`ssl` itself loads `_ssl` before the wheels after it (and may mend their failures there)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from harness import paths
from harness.cells.outcome import Outcome


def run_probe(tmp_path: Path, sources: dict[str, str]) -> Outcome:
    """The probe, in a fresh interpreter on this machine, importing `sources` in order."""
    for name, text in sources.items():
        (tmp_path / f"{name}.py").write_text(text, encoding="utf-8")
    log = tmp_path / "events.jsonl"
    spec = {
        "events": str(log),
        "imports": [{"module": name, "global": False} for name in sources],
        "victims": True,
    }
    done = subprocess.run(
        [sys.executable, str(paths.PROBE), json.dumps(spec)],
        cwd=tmp_path,
        env={"PYTHONPATH": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    return Outcome.from_report({"id": "x/host/local/plain/a#1", "events": events})


def test_the_step_that_first_loads_a_victim_is_named(tmp_path: Path) -> None:
    sources = {
        "plain": "x = 1\n",
        "tls": "import ssl\n",
        "again": "import ssl, sqlite3\n",
        "none": "import os\n",
    }
    outcome = run_probe(tmp_path, sources)
    assert outcome.sentinel_seen
    loaded = dict(outcome.victims_loaded)
    assert list(loaded) == ["import tls", "import again"]
    assert "_ssl" in loaded["import tls"]
    # only what was not loaded before: _ssl was, _sqlite3 was not
    assert loaded["import again"] == ("_sqlite3",)
