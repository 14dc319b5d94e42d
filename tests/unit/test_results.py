from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from harness import __version__, paths
from harness.build.wheels import BuiltWheel
from harness.cells.backends import TargetFacts
from harness.cells.outcome import Outcome
from harness.common.verdicts import FailureKind, ImportErrorKind, Verdict
from harness.errors import InputError
from harness.evidence.classify import Classified
from harness.evidence.results import (
    SCHEMA_VERSION,
    Attribution,
    CellResult,
    Provenance,
    load_results,
)
from harness.report import terminal as report
from harness.run.state import CellIndex, Manifest, Stream, write_results
from harness.scenario.plan import Cell, Expected

SCHEMA = json.loads(paths.RESULTS_SCHEMA.read_text())


def result(
    order: tuple[str, ...], verdict: Verdict, expected: Verdict, repeat: int = 1, **kw: Any
) -> CellResult:
    cell = Cell(
        scenario="s",
        target="host",
        arch="x86_64",
        dlopen=kw.pop("dlopen", "local"),
        host="plain",
        order=order,
        repeat=repeat,
    )
    outcome = Outcome(cell_id=cell.id, returncode=0, stderr_tail="boom\n", **kw)
    subkind = ImportErrorKind.STATIC_TLS if verdict is Verdict.IMPORT_ERROR else None
    return CellResult.make(
        cell,
        "local",
        outcome,
        Classified(verdict=verdict, subkind=subkind),
        Expected(verdict=expected),
    )


def provenance() -> Provenance:
    wheel = BuiltWheel(
        wheel_id="a",
        module="wc_a",
        fixture="call_once",
        toolchain="gcc",
        link="shared",
        path=Path("/c/a.whl"),
        sha256="0" * 64,
        compiler="g++ 12",
        builder="host",
        audit="",
        elf_comment="",
        builder_id="",
        cache_key="k",
    )
    facts = TargetFacts(
        target="host",
        arch="x86_64",
        python="3.11.7",
        glibc="glibc 2.36",
        libstdcxx="libstdc++.so.6.0.30",
    )
    return Provenance(
        started="now",
        command=("wheelclash", "run"),
        backends={"local": {"backend": "local"}},
        compilers={"gcc": "g++ 12"},
        wheels=(wheel,),
        targets=(facts,),
    )


def written(run_dir: Path, cells: list[CellResult]) -> Path:
    """results.json the way a run writes it: streamed to cells.jsonl, then assembled."""
    index = CellIndex()
    stream = Stream(run_dir, index)
    for cell in cells:
        stream.add(cell)
    stream.close()
    return write_results(run_dir, provenance(), index, [c.id for c in cells], {})


def test_results_json_validates_and_round_trips(tmp_path: Path) -> None:
    cells = [
        result(("a", "b"), Verdict.SEGFAULT, Verdict.SEGFAULT, dlopen="global:a"),
        result(("b", "a"), Verdict.IMPORT_ERROR, Verdict.PASS),
    ]
    run = tmp_path / "run"
    run.mkdir()
    path = written(run, cells)
    document = json.loads(path.read_text())
    jsonschema.validate(document, SCHEMA)
    assert document["summary"] == {
        "cells": 2,
        "unexpected": 1,
        "verdicts": {"segfault": 1, "import-error": 1},
    }
    assert len((tmp_path / "run" / "cells.jsonl").read_text().splitlines()) == 2
    _, loaded = load_results(tmp_path / "run")
    assert [(c.id, c.outcome.verdict, c.outcome.subkind) for c in loaded] == [
        (c.id, c.outcome.verdict, c.outcome.subkind) for c in cells
    ]
    assert [c.evidence.verdict_counts for c in loaded] == [{"segfault": 1}, {"import-error": 1}]


def test_schema_rejects_an_unknown_verdict(tmp_path: Path) -> None:
    cells = [result(("a",), Verdict.PASS, Verdict.PASS)]
    document = json.loads(written(tmp_path, cells).read_text())
    document["cells"][0]["outcome"]["verdict"] = "exploded"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, SCHEMA)
    del document["provenance"]["harness_version"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, SCHEMA)


def test_results_of_the_old_schema_version_are_an_input_error(tmp_path: Path) -> None:
    """A flat version-1 results.json: the reader names the file and the version, never a
    KeyError, and says to run again."""
    old = {
        "schema_version": 1,
        "provenance": {},
        "summary": {},
        "cells": [{"id": "s/host/local/plain/a#1", "verdict": "pass", "expected": "pass"}],
    }
    path = tmp_path / "results.json"
    path.write_text(json.dumps(old))
    with pytest.raises(InputError) as caught:
        load_results(tmp_path)
    assert str(caught.value) == (
        f"{path}: results of schema_version 1; this wheelclash ({__version__}) reads "
        f"schema_version {SCHEMA_VERSION} only\n"
        "hint: re-run the scenarios with this wheelclash (`wheelclash run ...`)"
    )
    path.write_text(json.dumps({**old, "schema_version": SCHEMA_VERSION}))
    with pytest.raises(InputError, match=r"key cells\[0\]: not a wheelclash cell"):
        load_results(path)


def test_an_old_run_folder_is_not_resumed(tmp_path: Path) -> None:
    """run.json from before the schema was recorded: its cells.jsonl lines are version 1."""
    manifest = Manifest(
        scenarios=("s.toml",),
        backend="local",
        targets=None,
        select=(),
        cover=None,
        shard=None,
        started="now",
        command=(),
    )
    manifest.write(tmp_path)
    assert Manifest.read(tmp_path) == manifest
    data = json.loads((tmp_path / "run.json").read_text())
    del data["schema_version"]
    (tmp_path / "run.json").write_text(json.dumps(data))
    with pytest.raises(InputError, match=r"schema_version 1; .* start a new run") as caught:
        Manifest.read(tmp_path)
    assert str(tmp_path / "run.json") in str(caught.value)


def test_schema_lists_every_verdict_and_import_error_subkind() -> None:
    outcome = SCHEMA["$defs"]["outcome"]["properties"]
    assert set(outcome["subkind"]["enum"]) == {None, *ImportErrorKind}
    assert set(SCHEMA["$defs"]["verdict"]["enum"]) == set(Verdict)


def test_matrix_marks_unexpected_and_flaky() -> None:
    cells = [
        result(("a", "b"), Verdict.SEGFAULT, Verdict.SEGFAULT, 1),
        result(("a", "b"), Verdict.PASS, Verdict.SEGFAULT, 2),
        result(("b", "a"), Verdict.PASS, Verdict.PASS),
    ]
    text = report.matrix(cells)
    assert text.splitlines()[0] == "s on host (x86_64)"
    row = text.splitlines()[2]
    assert row.split()[0] == "local/plain"
    assert "flaky(pass/segfault) !" in row and row.rstrip().endswith("pass")
    assert report.summary_line(cells) == "3 cells: 2 pass, 1 segfault; 1 unexpected"
    block = report.failure_block(cells[1])
    assert "verdict pass, expected segfault" in block and "boom" in block


def test_attribution_validates_and_round_trips(tmp_path: Path) -> None:
    failing = result(("a", "b"), Verdict.SEGFAULT, Verdict.PASS, last_step="victim _ssl")
    found = Attribution(
        culprits=("b",),
        failure_kind=FailureKind.SINGLE_WHEEL,
        step="victim _ssl",
        notes=("a also fails alone with segfault at victim _ssl",),
    )
    cells = [replace(failing, attribution=found), result(("b", "a"), Verdict.PASS, Verdict.PASS)]
    index = CellIndex()
    stream = Stream(tmp_path, index)
    for cell in cells:
        stream.add(cell)
    stream.close()
    record = {
        "budget": 20, "runs": 1, "wall_s": 0.5, "exhausted": False, "cells": 1,
        "trials": [
            {"cell": "s/host/local/plain/b", "verdict": "segfault", "subkind": None,
             "step": "victim _ssl"},
        ],
    }  # fmt: skip
    path = write_results(
        tmp_path, provenance(), index, [c.id for c in cells], {}, {"attribution": record}
    )
    document = json.loads(path.read_text())
    jsonschema.validate(document, SCHEMA)
    assert document["cells"][0]["attribution"] == {
        "culprits": ["b"],
        "failure_kind": "single-wheel",
        "step": "victim _ssl",
        "notes": ["a also fails alone with segfault at victim _ssl"],
    }
    assert "attribution" not in document["cells"][1]
    _, loaded = load_results(path)
    assert [c.attribution for c in loaded] == [found, None]
    document["cells"][0]["attribution"]["failure_kind"] = "both"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, SCHEMA)


def test_amended_cells_take_the_place_of_their_lines(tmp_path: Path) -> None:
    """The finish step's attributed cells go into results.json (and its count of unexpected
    cells) in the place of their lines; cells.jsonl keeps one line per cell run."""
    failing = result(("a", "b"), Verdict.SEGFAULT, Verdict.PASS, last_step="import b")
    cells = [failing, result(("b", "a"), Verdict.PASS, Verdict.PASS)]
    index = CellIndex()
    stream = Stream(tmp_path, index)
    for cell in cells:
        stream.add(cell)
    stream.close()
    found = Attribution(culprits=("a", "b"), failure_kind=FailureKind.CROSS_WHEEL, step="import b")
    judged = replace(
        failing,
        attribution=found,
        cell=replace(failing.cell, expected="segfault"),
        outcome=replace(failing.outcome, matches_expectation=True),
    )
    order = [c.id for c in cells]
    path = write_results(tmp_path, provenance(), index, order, {}, None, {failing.id: judged})
    document = json.loads(path.read_text())
    assert document["summary"]["unexpected"] == 0
    assert document["cells"][0]["cell"]["expected"] == "segfault"
    assert document["cells"][0]["attribution"]["culprits"] == ["a", "b"]
    assert len((tmp_path / "cells.jsonl").read_text().splitlines()) == 2
    plain = json.loads(write_results(tmp_path, provenance(), index, order, {}).read_text())
    assert plain["summary"]["unexpected"] == 1 and "attribution" not in plain["cells"][0]
