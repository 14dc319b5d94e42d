"""The atlas page's model and rendering, on the first real edition's results.json
(atlas/samples/editions/2026-12-04-debian-bookworm): worst verdict per ordered pair, the
diagonal, the culprit groups, escaping, and the page written with every edition."""

from __future__ import annotations

import copy
import re
from html import escape
from pathlib import Path
from typing import Any

import pytest

from harness.common.verdicts import Verdict
from harness.evidence.results import CellResult, read_cells
from harness.report.atlas_edition import groups
from harness.report.atlas_html import render_atlas
from harness.report.atlas_matrix import Square, matrices
from harness.report.atlas_write import write_edition
from harness.scenario.corpus import load_corpus
from tests.unit.helpers import (
    SAMPLE_EDITION,
    SAMPLE_FAILURE,
    made_result,
    sample_edition_document,
    written_run,
)

P, S, A, W = Verdict.PASS, Verdict.SEGFAULT, Verdict.ABORT, Verdict.WRONG_RESULT
PAYLOAD = "</pre><script>document.body.dataset.pwned='1'</script><img src=x onerror=alert(1)>"


def cells_of(document: dict[str, Any]) -> tuple[CellResult, ...]:
    return read_cells(SAMPLE_EDITION / "results.json", document)


@pytest.fixture
def sample() -> dict[str, Any]:
    return sample_edition_document()


def test_one_matrix_per_mode_with_the_corpus_wheels(sample: dict[str, Any]) -> None:
    found = matrices(sample, cells_of(sample))
    corpus = load_corpus(SAMPLE_EDITION / "corpus.toml")
    assert [(m.target, m.arch, m.mode) for m in found] == [
        ("debian:bookworm", "x86_64", mode) for mode in ("local", "global-first", "global-all")
    ]
    for matrix in found:
        assert matrix.wheels == tuple(sorted(w.id for w in corpus.wheels))
        # Every ordered pair ran (12 squares); nothing ran alone.
        assert len(matrix.squares) == 12
        assert all(matrix.square(w, w).worst is None for w in matrix.wheels)


def test_each_square_shows_the_worst_verdict_of_its_ordered_pair(sample: dict[str, Any]) -> None:
    local, first, every = matrices(sample, cells_of(sample))
    assert {s.worst for s in local.squares.values()} == {P}
    for matrix in (first, every):
        worst = {key: s.worst for key, s in matrix.squares.items() if s.worst != P}
        assert worst == {
            ("fiona", "rasterio"): S,
            ("rasterio", "fiona"): A,
            ("fiona", "shapely"): W,
        }
        square = matrix.square("fiona", "rasterio")
        assert square.tally() == [("segfault", 3)] and square.flake_rate == 0
        assert [r.cell.repeat for r in square.runs] == [1, 2, 3]
        assert square.shown() is square.runs[0]
        assert matrix.square("shapely", "fiona").total == 1  # a pass runs once


def test_mixed_runs_show_the_most_severe_and_a_flake_rate(sample: dict[str, Any]) -> None:
    runs = [made_result("a--b", ("a", "b"), v, repeat=n) for n, v in enumerate((P, W, S, P), 1)]
    square = Square(first="a", second="b", runs=tuple(runs))
    assert square.worst == S and square.shown() is runs[2]
    assert square.tally() == [("pass", 2), ("wrong-result", 1), ("segfault", 1)]
    assert square.flake_rate == 0.5
    page = render_atlas({"cells": [r.to_json() for r in runs]}, runs, title="t")
    assert '<td class="sq v-segfault" data-verdict="segfault" data-first="a"' in page
    assert ">2/4</a>" in page  # failing runs of all
    assert "50% (pass 2/4, wrong-result 1/4, segfault 1/4)" in page


def test_the_diagonal_is_the_wheel_alone(sample: dict[str, Any]) -> None:
    """Attribution's runs of one wheel fill the diagonal; a singleton cell of the run comes
    before them; runs of larger sets are not the diagonal's."""
    place = "debian-bookworm-x86_64"
    sample["attribution"] = {
        "budget": 20, "runs": 3, "wall_s": 4.0, "exhausted": False, "cells": 6,
        "trials": [
            {"cell": f"fiona--rasterio/{place}/global-first/plain/fiona", "verdict": "pass",
             "subkind": None, "step": ""},
            {"cell": f"fiona--rasterio/{place}/global-first/plain/rasterio", "verdict": "abort",
             "subkind": None, "step": "import rasterio"},
            {"cell": f"fiona--shapely/{place}/global-first/plain/shapely", "verdict": "pass",
             "subkind": None, "step": ""},
            {"cell": f"fiona--shapely/{place}/global-first/plain/fiona,shapely", "verdict":
             "segfault", "subkind": None, "step": ""},
        ],
    }  # fmt: skip
    alone = copy.deepcopy(next(c for c in sample["cells"] if c["id"] == SAMPLE_FAILURE))
    alone["id"] = "fiona--shapely/debian-bookworm-x86_64/global-first/plain/shapely#1"
    alone["cell"].update(scenario="fiona--shapely", order=["shapely"])
    alone["outcome"]["verdict"] = "import-error"
    alone["outcome"]["subkind"] = "other"
    sample["cells"].append(alone)
    _, first, _ = matrices(sample, cells_of(sample))
    assert first.square("rasterio", "rasterio").worst == A
    assert first.square("rasterio", "rasterio").trials[0].step == "import rasterio"
    assert first.square("fiona", "fiona").worst == P
    shapely = first.square("shapely", "shapely")
    assert shapely.worst == Verdict.IMPORT_ERROR and not shapely.trials
    assert shapely.tally() == [("import-error:other", 1)]
    assert first.square("msgpack", "msgpack").worst is None
    page = render_atlas(sample, cells_of(sample), title="t")
    assert '<td class="sq v-abort diag" data-verdict="abort" data-first="rasterio"' in page
    assert "(an attribution run): abort at import rasterio" in page
    assert 'title="msgpack alone: not run alone"' in page


def test_failures_group_by_culprit_set_and_link_their_square(sample: dict[str, Any]) -> None:
    cells = cells_of(sample)
    found = groups(sample, cells)
    assert [(g.culprits, g.mode) for g in found] == [
        (("fiona", "rasterio"), "global-first"),
        (("fiona", "rasterio"), "global-all"),
        (("fiona", "shapely"), "global-first"),
        (("fiona", "shapely"), "global-all"),
    ]
    page = render_atlas(sample, cells, title="t")
    table = page.split('<table id="groups">', 1)[1]
    # Matrix 1 is global-first; wheels fiona 0, msgpack 1, rasterio 2, shapely 3.
    assert re.findall(r'data-square="(sq-[0-9-]+)"', table) == [
        "sq-1-2-0", "sq-2-2-0", "sq-1-0-3", "sq-2-0-3"
    ]  # fmt: skip
    assert "fiona + rasterio (pair)" in table


def test_attributed_culprits_show_in_details_and_groups(sample: dict[str, Any]) -> None:
    for cell in sample["cells"]:
        if cell["outcome"]["verdict"] == "abort":
            cell["attribution"] = {"culprits": ["rasterio"], "failure_kind": "single-wheel",
                                   "step": "import fiona"}  # fmt: skip
    page = render_atlas(sample, cells_of(sample), title="t")
    details = page.split('<section class="square-details" id="sq-1-2-0"', 1)[1]
    details = details.split("</section>", 1)[0]
    assert "<dt>failure kind</dt><dd>single-wheel</dd>" in details
    assert "<dt>culprits</dt><dd>rasterio</dd>" in details
    table = page.split('<table id="groups">', 1)[1]
    assert "<b>rasterio</b>" in table


def test_details_hold_the_evidence_and_the_reproducer(sample: dict[str, Any]) -> None:
    cells = cells_of(sample)
    first = next(c for c in cells if c.id == SAMPLE_FAILURE)
    page = render_atlas(sample, cells, title="t", run_dir=Path("/srv/results/run-1"))
    details = page.split('<section class="square-details" id="sq-1-0-2"', 1)[1]
    details = details.split("</section>", 1)[0]
    assert "<dt>verdicts</dt><dd>segfault 3/3</dd>" in details
    assert "<dt>flake rate</dt><dd>0 (all 3 runs alike)</dd>" in details
    assert "<dt>signal</dt><dd>11</dd><dt>step</dt><dd>import rasterio</dd>" in details
    assert escape(first.cell.reproducer) in details
    assert escape(first.evidence.native_top[0]) in details
    assert "<code>/srv/results/run-1</code> where the atlas ran" in details
    assert "wheelclash repro CELL --results results.json" in details


def test_everything_from_the_results_is_escaped(sample: dict[str, Any]) -> None:
    for cell in sample["cells"]:
        if cell["outcome"]["verdict"] != "pass":
            cell["outcome"].update(stderr_tail=PAYLOAD, detail=PAYLOAD, last_step=PAYLOAD)
            cell["cell"]["reproducer"] = PAYLOAD
            cell["evidence"]["native_top"] = [PAYLOAD]
            cell["evidence"]["artefacts"] = {"core": PAYLOAD}
    sample["provenance"]["harness_version"] = PAYLOAD
    page = render_atlas(sample, cells_of(sample), title=PAYLOAD, description=PAYLOAD)
    assert "<script>document" not in page and "<img src=x" not in page
    assert page.count("&lt;script&gt;document.body.dataset.pwned=&#x27;1&#x27;") > 20
    assert page.count("<script>") == 1  # the page's own


def test_every_edition_has_its_page(tmp_path: Path) -> None:
    results = [
        made_result("a--b", ("a", "b"), S, reproducer="python -c 'import a, b'"),
        made_result("a--b", ("b", "a"), P),
    ]
    run = written_run(tmp_path / "r", results).parent
    edition = write_edition(run, tmp_path / "ed", title="Atlas <t>")
    page = (edition / "atlas.html").read_text()
    assert "<title>Atlas &lt;t&gt;</title>" in page
    assert page.count('<td class="sq v-segfault"') == 1 and page.count('<td class="sq v-pass"') == 1
    assert "atlas.html beside this file" in (edition / "summary.md").read_text()
