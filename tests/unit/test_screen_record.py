"""Screening's record and choice of pairs (harness/run/screen.py), from made-up group results;
and the CLI's checks of --screen's options and its --print-plan, which runs nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from harness import cli, paths
from harness.analysis.attribution import Signature
from harness.analysis.cover import Split
from harness.common.verdicts import Verdict
from harness.evidence.results import CellResult, read_cells
from harness.report.atlas_edition import summary_markdown
from harness.report.atlas_html import render_atlas
from harness.report.atlas_matrix import screened_pairs
from harness.run.screen import GroupScreen, ModeScreen, Partners, Screening, line
from harness.scenario.atlas_pairs import AtlasOptions, group_scenario
from harness.scenario.corpus import load_corpus
from harness.scenario.plan import plan
from harness.scenario.screen_groups import groups
from tests.unit.helpers import SAMPLE_EDITION, sample_edition_document
from tests.unit.test_corpus import tiny_wheel, write

IDS = ("a", "b", "c", "d", "e", "f")


def split(
    pairs: tuple[tuple[str, str], ...] = (),
    unexplained: tuple[tuple[str, ...], ...] = (),
    tests: int = 1,
) -> Split:
    runs = tuple(("x", str(n)) for n in range(tests))
    return Split(pairs=pairs, unexplained=unexplained, tests=runs, covering=runs[:1])


# d fails alone in global-all; with e loaded it fails otherwise (the search's 5 tests)
D_PARTNERS = Partners(
    wheel="d",
    alone=frozenset({Signature(verdict=Verdict.SEGFAULT, step="victim _ssl")}),
    split=Split(
        singletons=(),
        pairs=(("d", "e"),),
        unexplained=(),
        tests=(("c", "e", "f"), ("c",), ("e", "f"), ("e",), ("f",)),
    ),
)


def screening() -> Screening:
    made = groups(IDS, 4)  # parts (a,b) (c,d) (e,f): groups abcd, abef, cdef
    passing = (ModeScreen(dlopen="local", split=split(), cells=2),)
    return Screening(
        group_size=4,
        wheels=IDS,
        groups=(
            GroupScreen(
                group=made[0],
                modes=(
                    *passing,
                    ModeScreen(dlopen="global-all", split=split((("b", "d"),), tests=7), cells=13),
                ),
                cells=15,
            ),
            GroupScreen(group=made[1], not_screened="pip cannot install the group: x", cells=0),
            GroupScreen(
                group=made[2],
                modes=(
                    ModeScreen(
                        dlopen="local", split=split(unexplained=(("c", "e", "f"),)), cells=9
                    ),
                    ModeScreen(
                        dlopen="global-all",
                        split=Split(singletons=("d",), pairs=(), unexplained=(), tests=()),
                        cells=4,
                        partners=(D_PARTNERS,),
                    ),
                ),
                cells=13,
            ),
        ),
        wall_s=3.0,
    )


def test_pairs_run_are_found_unexplained_and_unscreened() -> None:
    found = screening()
    assert found.found == (("b", "d"), ("d", "e"))
    # the group a,b,e,f was not screened: its pairs no other group holds run as pairs
    assert found.uncovered == (("a", "e"), ("a", "f"), ("b", "e"), ("b", "f"))
    assert found.unexplained == (("c", "e"), ("c", "f"), ("e", "f"))
    assert found.to_run() == (
        ("a", "e"), ("a", "f"), ("b", "d"), ("b", "e"), ("b", "f"), ("c", "e"), ("c", "f"),
        ("d", "e"), ("e", "f"),
    )  # fmt: skip
    assert found.cells == 28


def test_the_record_counts_splits_and_names_confirmed_pairs() -> None:
    record = screening().to_json()
    assert record["cells"] == 28 and record["group_size"] == 4
    first = record["groups"][0]["modes"]
    assert first[0] == {
        "dlopen": "local", "failed": False, "group_cells": [], "cells": 2, "tests": 1, "splits": 0,
        "singletons": [], "pairs": [], "unexplained": [], "partners": [],
    }  # fmt: skip
    assert record["groups"][2]["modes"][1]["partners"] == [
        {"wheel": "d", "alone": ["segfault at victim _ssl"], "tests": 5,
         "pairs": [["d", "e"]], "unexplained": []}
    ]  # fmt: skip
    assert first[1]["splits"] == 6 and first[1]["pairs"] == [["b", "d"]]
    assert record["groups"][1]["not_screened"].startswith("pip cannot")
    # no pair cells given: nothing confirmed, the isolated pair is not confirmed
    assert record["confirmed"] == [] and record["not_confirmed"] == [["b", "d"], ["d", "e"]]
    assert record["singletons"] == [{"dlopen": "global-all", "wheel": "d"}]
    assert record["singletons_not_confirmed"] == record["singletons"]
    schema = json.loads(paths.RESULTS_SCHEMA.read_text())
    jsonschema.validate(record, {"$defs": schema["$defs"], **schema["properties"]["screen"]})


def test_a_line_per_group() -> None:
    found = screening().groups
    assert line(found[0]) == (
        "screen-1 (4 wheels), 15 cells: local pass; global-all split in 7 tests: b+d"
    )
    assert "not screened (pip cannot install" in line(found[1])
    assert "unexplained c,e,f" in line(found[2])
    assert line(found[2]).endswith(
        "global-all split in 5 tests (pairs of d searched on their own): d, d+e"
    )
    refused = GroupScreen(group=found[0].group, not_screened="pip cannot install", refused=True)
    assert line(refused).endswith(
        "not screened (pip cannot install); smaller groups take its place"
    )


def corpus(folder: Path) -> Path:
    tables = "".join(f'[[wheel]]\nwheel = "{tiny_wheel(folder, name).name}"\n' for name in "pqrstu")
    return write(folder, 'name = "six"\n' + tables)


def test_print_plan_lists_the_groups_and_runs_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = corpus(tmp_path)
    argv = ["atlas", str(path), "--screen", "--group-size", "4", "--print-plan"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "screen-1: p q r s\n  local:\n    p,q,r,s\n    s,r,q,p\n" in out
    # the global modes: one order per wheel, that wheel first (nothing global before it)
    first = "  global-all, global-first:\n    p,q,r,s\n    q,p,r,s\n    r,p,q,s\n    s,p,q,r\n"
    assert first in out
    # each of the 6 wheels alone once, then per group 2 + 4 + 4 cells
    assert "3 groups of up to 4 wheels: each of the 6 wheels alone first" in out
    assert "then 30 group cells in 3 modes" in out


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (["--group-size", "4"], "add --screen"),
        (["--screen", "--shard", "1/2"], "no --shard or --resume"),
        (["--screen", "--group-size", "1"], "from two to 32 wheels"),
        (["--screen", "--group-size", "33"], "from two to 32 wheels"),
    ],
)
def test_bad_screen_options_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], says: str
) -> None:
    assert cli.main(["atlas", str(corpus(tmp_path)), "--backend", "local", *extra]) == 2
    assert says in capsys.readouterr().err


def test_a_group_of_more_than_six_wheels_is_a_scenario(tmp_path: Path) -> None:
    # every order is planned for six wheels at most: a group's orders are its 2-way array
    wheels = "".join(
        f'[[wheel]]\nwheel = "{tiny_wheel(tmp_path, f"w{i}").name}"\n' for i in range(10)
    )
    corpus = load_corpus(write(tmp_path, 'name = "ten"\n' + wheels))
    ids = [w.id for w in corpus.wheels]
    found = group_scenario(corpus, "screen-1", ids, AtlasOptions(targets=("host",)))
    assert found.wheel_ids == tuple(ids) and found.name == "screen-1"
    assert len(plan(found, targets=["host"], arches=["x86_64"])) == 2 * 3


def screened_sample() -> tuple[dict[str, Any], tuple[CellResult, ...]]:
    """The sample edition as a screened one: a group of all four wheels, of which only
    fiona--rasterio ran as a pair (the other pairs' cells left out)."""
    document = sample_edition_document()
    kept = tuple(
        c
        for c in read_cells(SAMPLE_EDITION / "results.json", document)
        if c.cell.scenario == "fiona--rasterio"
    )
    wheels = ["fiona", "rasterio", "shapely", "msgpack"]
    document["screen"] = {
        "group_size": 4, "cells": 20, "wall_s": 1.0, "found": [["fiona", "rasterio"]],
        "unexplained": [], "uncovered": [], "pairs_run": [["fiona", "rasterio"]],
        "confirmed": [["fiona", "rasterio"]], "not_confirmed": [],
        "groups": [{"name": "screen-1", "wheels": wheels, "cells": 20, "wall_s": 1.0,
                    "not_screened": "", "modes": []}],
    }  # fmt: skip
    return document, kept


def test_the_page_marks_pairs_that_passed_screening() -> None:
    document, kept = screened_sample()
    page = render_atlas(document, kept, title="Atlas")
    assert screened_pairs(document) == {
        frozenset(p) for p in [("fiona", "shapely"), ("fiona", "msgpack"),
                               ("rasterio", "shapely"), ("rasterio", "msgpack"),
                               ("shapely", "msgpack")]
    }  # fmt: skip
    # the four screened wheels' ordered pairs but fiona's and rasterio's, in three modes
    assert page.count('class="sq screened"') == 10 * 3
    assert 'title="shapely then msgpack: passed screening in a group; no pair cell ran"' in page
    assert "s: the pair passed screening" in page
    # an edition without screening has no such squares
    plain = sample_edition_document()
    assert 'class="sq screened"' not in render_atlas(plain, kept, title="Atlas")


def test_the_summary_says_what_screening_ran() -> None:
    document, kept = screened_sample()
    summary = summary_markdown(document, kept, title="Atlas", run_dir=None)
    assert (
        "Screened (`atlas --screen`): 1 groups of up to 4 wheels imported together, 20 group "
        "and split cells; 1 pairs then ran as pairs (1 isolated, 0 from failures no pair "
        "explained, 0 unscreened), 1 confirmed." in summary
    )
    note = "In the global modes each ordered pair of a group ran in a cell with its first wheel"
    assert note not in summary  # the record names no global-first mode
    modes = document["screen"]["groups"][0]["modes"]
    modes.append({"dlopen": "global-first", "failed": False, "group_cells": [], "cells": 4,
                  "tests": 4, "splits": 0, "singletons": [], "pairs": [],
                  "unexplained": []})  # fmt: skip
    assert note in summary_markdown(document, kept, title="Atlas", run_dir=None)
