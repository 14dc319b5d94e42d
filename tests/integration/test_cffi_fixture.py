"""The cffi-built fixture on this machine: what the call-once-cffi scenario cannot check.

pytest runs the scenario itself on debian:bookworm and debian:trixie (it collects
`scenarios/`); this test pins the local backend and checks that b's runtime requirement
really came from its wheelhouse: the wheelhouse is in b's provenance, and every cell loaded
`_cffi_backend` and b's cffi extension from the cell's own venv.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.common.ids import CellId
from tests.integration.conftest import SCENARIOS, cells_in


def test_the_cffi_victim_installs_cffi_from_its_wheelhouse(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = str(SCENARIOS / "call-once-cffi.toml")
    code = main(["run", scenario, "--backend", "local", "--results", str(tmp_path), "--json"])
    document: dict[str, Any] = json.loads(capsys.readouterr().out)
    cells = cells_in(document)
    assert code == 0, [c.id for c in cells if not c.outcome.matches_expectation]
    wheels = {w["wheel_id"]: w for w in document["provenance"]["wheels"]}
    assert wheels["a"]["wheelhouse"] == ""  # call_once needs nothing at run time
    house = Path(wheels["b"]["wheelhouse"])
    assert sorted(p.name.split("-")[0] for p in house.glob("*.whl")) == ["cffi", "pycparser"]
    verdicts: dict[str, set[str]] = defaultdict(set)  # over the scenario's repeats
    for cell in cells:
        verdicts[CellId.parse(cell.id).logical.tail].add(cell.outcome.verdict)
    assert verdicts.pop("global:a/plain/a,b") == {"segfault"}
    assert set(verdicts) == {"local/plain/a,b", "local/plain/b,a", "global:a/plain/b,a"}
    assert all(found == {"pass"} for found in verdicts.values())
    for cell in cells:
        if cell.outcome.verdict != "pass":
            assert cell.outcome.last_step == f"import {wheels['b']['module']}"
            assert any("wc_call_once_a.abi3.so" in frame for frame in cell.evidence.native_top)
            continue
        libraries = cell.evidence.libraries
        backend = [lib for lib in libraries if "/_cffi_backend." in lib]
        extension = [lib for lib in libraries if lib.endswith("/_ext.abi3.so")]
        assert len(backend) == 1 and "/venvs/" in backend[0], libraries
        assert len(extension) == 1 and f"/{wheels['b']['module']}/" in extension[0]
        assert Path(backend[0]).parent == Path(extension[0]).parent.parent  # one site-packages
