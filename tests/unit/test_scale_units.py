"""Shards, -j workers, the streamed run folder and merge: pure parts, with hand-made data."""

from __future__ import annotations

import copy
import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from harness import paths
from harness.analysis.attribution import MIXED, sub_cell
from harness.analysis.merge import merge
from harness.analysis.reattribute import UNJUDGED, reattribute, reattribute_document
from harness.cells.outcome import Outcome
from harness.common.verdicts import FailureKind, Verdict
from harness.errors import InputError
from harness.evidence.classify import Classified
from harness.evidence.results import SCHEMA_VERSION, Attribution, CellResult, Provenance
from harness.run.parallel import dealt, run_units, split
from harness.run.shards import Shard, assign, units
from harness.run.state import CellIndex, Stream, slim_results, write_results
from harness.scenario.load import Expectation, Selector
from harness.scenario.plan import Cell, Expected

SCHEMA = json.loads(paths.RESULTS_SCHEMA.read_text())


def cells(scenario: str, count: int, target: str = "host") -> list[Cell]:
    return [
        Cell(
            scenario=scenario,
            target=target,
            arch="x86_64",
            dlopen="local",
            host="plain",
            order=("a", "b"),
            repeat=i + 1,
        )
        for i in range(count)
    ]


def test_shards_keep_groups_whole_and_cover_every_cell_once() -> None:
    groups = [cells("a", 5), cells("b", 3), cells("c", 4), cells("d", 4)]
    shards = assign(groups, 2)
    ids = [c.id for shard in shards for unit in shard for c in unit]
    assert sorted(ids) == sorted(c.id for g in groups for c in g)
    assert [sum(map(len, s)) for s in shards] == [8, 8]
    assert all(len({c.group for c in unit}) == 1 for s in shards for unit in s)
    assert {len(unit) for s in shards for unit in s} == {5, 3, 4}
    assert assign(groups, 2) == shards


def test_a_group_larger_than_a_share_is_cut_at_the_share() -> None:
    (big,) = [cells("big", 10)]
    assert [len(u) for u in units([big, cells("x", 2)], 3)] == [4, 4, 2, 2]
    assert [sum(map(len, s)) for s in assign([big], 4)] == [3, 3, 3, 1]


def test_more_shards_than_cells_leaves_some_empty() -> None:
    assert [sum(map(len, s)) for s in assign([cells("a", 2)], 3)] == [1, 1, 0]


@pytest.mark.parametrize("text", ["0/2", "3/2", "1", "a/b", "1/0"])
def test_bad_shards_are_refused(text: str) -> None:
    with pytest.raises(InputError, match="--shard"):
        Shard.parse(text)


def test_workers_run_units_at_the_same_time() -> None:
    both = threading.Barrier(2, timeout=10)

    def run(unit: str, stopped: Callable[[], bool]) -> Iterator[str]:
        both.wait()  # only returns when the other unit is running too
        yield f"{unit}1"
        yield f"{unit}2"

    assert sorted(run_units(["a", "b"], run, jobs=2)) == ["a1", "a2", "b1", "b2"]


def test_one_job_runs_units_in_order() -> None:
    def run(unit: str, stopped: Callable[[], bool]) -> Iterator[str]:
        yield from (unit, unit.upper())

    assert list(run_units(["a", "b"], run, jobs=1)) == ["a", "A", "b", "B"]


def test_a_worker_failure_reaches_the_caller_and_closes_the_others() -> None:
    closed: list[str] = []

    def run(unit: str, stopped: Callable[[], bool]) -> Iterator[str]:
        try:
            if unit == "bad":
                raise RuntimeError("boom")
            yield unit
            yield unit
        finally:
            closed.append(unit)

    with pytest.raises(RuntimeError, match="boom"):
        list(run_units(["bad", "ok", "ok2"], run, jobs=2))
    assert "bad" in closed


def waits_for_stop(
    told: list[str], started: threading.Semaphore | None = None
) -> Callable[[str, Callable[[], bool]], Iterator[str]]:
    """A unit that runs until it is told to stop (at most 10 s), and notes that it was;
    units named `fast*` end at once. `started` is released as each slow unit starts."""

    def run(unit: str, stopped: Callable[[], bool]) -> Iterator[str]:
        if unit.startswith("fast"):
            yield unit
            return
        if started is not None:
            started.release()
        deadline = time.monotonic() + 10
        while not stopped() and time.monotonic() < deadline:
            time.sleep(0.01)
        if stopped():
            told.append(unit)
        yield unit

    return run


def test_a_caller_leaving_early_tells_the_units_still_running_to_stop() -> None:
    told: list[str] = []
    started = threading.Semaphore(0)
    results = run_units(["slow", "fast"], waits_for_stop(told, started), jobs=2)
    assert next(results) == "fast"
    assert started.acquire(timeout=10)
    leaving = time.monotonic()
    results.close()
    assert told == ["slow"]
    assert time.monotonic() - leaving < 5


def test_the_stop_of_an_enclosing_run_reaches_the_units_within_a_unit() -> None:
    """Groups run on workers, each group's batches on workers of their own: leaving the
    groups' run stops the batches too."""
    told: list[str] = []
    started = threading.Semaphore(0)
    batch = waits_for_stop(told, started)

    def group(unit: str, stopped: Callable[[], bool]) -> Iterator[str]:
        if unit == "fast":
            yield unit
            return
        yield from run_units([f"{unit}-1", f"{unit}-2"], batch, jobs=2, stopped=stopped)

    results = run_units(["g", "fast"], group, jobs=2)
    assert next(results) == "fast"
    assert started.acquire(timeout=10) and started.acquire(timeout=10)  # both batches run
    results.close()
    assert sorted(told) == ["g-1", "g-2"]


@pytest.mark.parametrize(
    ("sizes", "jobs", "batches"),
    [
        ([40], 1, (1,)),
        ([40], 2, (2,)),  # one group: both jobs run its cells
        ([40, 3], 2, (1, 1)),  # as many groups as jobs: a group is one batch
        ([5, 5, 5], 2, (1, 1, 1)),
        ([10, 4, 4], 4, (2, 1, 1)),  # the spare job to the group with the most cells
        ([2, 9], 4, (1, 3)),
        ([6, 6], 5, (3, 2)),  # ties: the earlier group
        ([1], 4, (1,)),  # never more batches than cells
        ([2, 1], 8, (2, 1)),
    ],
)
def test_spare_jobs_go_to_the_groups_with_the_most_cells_per_batch(
    sizes: list[int], jobs: int, batches: tuple[int, ...]
) -> None:
    assert split(sizes, jobs) == batches
    assert sum(batches) <= max(jobs, len(sizes))


def test_a_groups_cells_are_dealt_round_robin_in_their_order() -> None:
    assert dealt("abcde", 2) == (("a", "c", "e"), ("b", "d"))
    assert dealt("abc", 1) == (("a", "b", "c"),)
    assert dealt("ab", 4) == (("a",), ("b",))
    assert dealt("", 3) == ()


def result(cell: Cell, index: int, verdict: Verdict = Verdict.PASS) -> CellResult:
    made = CellResult.make(
        cell,
        "local",
        Outcome(cell_id=cell.id, returncode=0, duration_s=0.1, stderr_tail="x" * 4000),
        Classified(verdict=verdict),
        Expected(verdict=Verdict.PASS),
    )
    return replace(made, cell=replace(made.cell, index=index))


def test_a_half_written_line_is_dropped_and_results_come_in_plan_order(tmp_path: Path) -> None:
    planned = cells("s", 4)
    stream = Stream(tmp_path, CellIndex())
    for position in (2, 0, 3):
        stream.add(
            result(planned[position], position, Verdict.SEGFAULT if position else Verdict.PASS)
        )
    stream.close()
    with (tmp_path / "cells.jsonl").open("a") as handle:
        handle.write('{"id": "s/host/loc')  # SIGKILL mid-line
    index = CellIndex.scan(tmp_path)
    assert sorted(index.entries) == sorted(planned[p].id for p in (0, 2, 3))
    assert (tmp_path / "cells.jsonl").read_text().endswith("}\n")
    order = [c.id for c in planned]
    path = write_results(tmp_path, Provenance(), index, order, {"planned": 4, "complete": False})
    document = json.loads(path.read_text())
    jsonschema.validate(document, SCHEMA)
    assert [c["cell"]["index"] for c in document["cells"]] == [0, 2, 3]
    # The three are repeats of one logical cell that disagree: all flaky, so all unexpected.
    assert document["summary"] == {
        "cells": 3,
        "unexpected": 3,
        "verdicts": {"pass": 1, "segfault": 2},
    }
    assert [c["evidence"]["flaky"] for c in document["cells"]] == [True, True, True]
    slim = slim_results(tmp_path, index, order)
    assert [len(r.outcome.stderr_tail) for r in slim] == [4000, 4000, 4000]
    assert [r.evidence.verdict_counts for r in slim] == [{"pass": 1, "segfault": 2}] * 3


def document(shard: str, ids_from: int, sha: str = "f" * 64) -> dict[str, Any]:
    wheel = {
        "wheel_id": "a",
        "module": "wc_a",
        "fixture": "healthy",
        "toolchain": "gcc",
        "link": "shared",
        "path": "/w.whl",
        "sha256": sha,
        "compiler": "g++",
        "elf_comment": "",
        "builder": "host",
        "builder_id": "",
        "audit": "",
        "cache_key": "k" * 64,
    }
    facts = {
        "target": "host",
        "arch": "x86_64",
        "python": "3.11",
        "glibc": "glibc 2.36",
        "libstdcxx": "libstdc++.so.6.0.30",
        "image_id": "",
        "image_digest": "",
        "emulated": False,
    }
    planned = cells("s", 4)
    return {
        "schema_version": SCHEMA_VERSION,
        "provenance": {
            "harness_version": "1",
            "started": "t",
            "command": [],
            "backends": {},
            "compilers": {},
            "wheels": [wheel],
            "targets": [facts],
        },
        "run": {
            "shard": shard,
            "repeat_failures": 3,
            "planned": 2,
            "complete": True,
            "orders": [],
        },
        "summary": {},
        "cells": [result(planned[i], i).to_json() for i in (ids_from + 2, ids_from)],
    }


def test_merge_joins_shards_in_plan_order() -> None:
    merged = merge([("one", document("1/2", 0)), ("two", document("2/2", 1))])
    jsonschema.validate(merged.document, SCHEMA)
    assert [c.cell.index for c in merged.results] == [0, 1, 2, 3]
    assert [c["id"] for c in merged.document["cells"]] == [c.id for c in merged.results]
    assert merged.notes == () and merged.document["run"]["complete"]
    assert merged.document["run"]["repeat_failures"] == 3
    assert "agreement" not in merged.document and "findings" not in merged.document


def test_merge_keeps_each_shards_findings_once_and_its_agreement_rows() -> None:
    finding = {"wheel_id": "a", "wheel": "a.whl", "predictor": "p", "mechanism": "1", "detail": ""}
    one, two = document("1/2", 0), document("2/2", 1)
    for shard, cell in ((one, "s/host/local/plain/a#1"), (two, "s/host/local/plain/b#1")):
        shard["findings"] = [finding]
        row = {"mechanism": "1", "predicted": True, "observed": True, "detail": cell}
        shard["agreement"] = [{**row, "explained_cells": [cell]}]
    merged = merge([("one", one), ("two", two)])
    jsonschema.validate(merged.document, SCHEMA)
    assert merged.document["findings"] == [finding]
    assert [r["explained_cells"] for r in merged.document["agreement"]] == [
        ["s/host/local/plain/a#1"],
        ["s/host/local/plain/b#1"],
    ]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["provenance"].update(harness_version="2"), "the harness version"),
        (lambda d: d["provenance"]["wheels"][0].update(sha256="0" * 64), "the wheel wc_a"),
        (lambda d: d["provenance"]["targets"][0].update(glibc="glibc 2.31"), "the target host"),
        (lambda d: d["run"].update(shard="1/2"), "shard 1/2 is given twice"),
        (lambda d: d["run"].update(shard="2/3"), "different shard counts"),
        (lambda d: d["run"].update(repeat_failures=1), "repeat_failures"),
    ],
)
def test_merge_refuses_what_does_not_match(change: Any, message: str) -> None:
    other = copy.deepcopy(document("2/2", 1))
    change(other)
    with pytest.raises(InputError, match=message):
        merge([("one", document("1/2", 0)), ("two", other)])


def test_merge_refuses_a_cell_twice_and_notes_a_missing_shard() -> None:
    with pytest.raises(InputError, match="is in both"):
        merge([("one", document("1/3", 0)), ("two", document("2/3", 0))])
    merged = merge([("one", document("1/3", 0)), ("two", document("2/3", 1))])
    assert merged.notes == ("missing shards: 3/3",) and not merged.document["run"]["complete"]


def test_xdist_keeps_a_scenario_group_together() -> None:
    from harness.run.xdist_groups import scope_of

    group = "scenarios/call-once.toml::call-once/debian-bookworm-x86_64"
    for cell in (
        "global:a/plain/a,b#1",
        "local/preload-libstdcxx/b,a#2",
        "local/plain/a,b/use:b,a#3",
    ):
        assert (
            scope_of(f"scenarios/call-once.toml::call-once/debian-bookworm-x86_64/{cell}") == group
        )
    variant = "s.toml::tc/host/a=gcc-10+b=gcc-12/local/plain/a,b#1"
    assert scope_of(variant) == "s.toml::tc/host/a=gcc-10+b=gcc-12"
    assert scope_of("tests/unit/test_x.py::test_y") == "tests/unit/test_x.py::test_y"
    assert scope_of("tests/unit/test_x.py::test_y@mine") == "mine"


# Attribution again when shards are merged (harness/analysis/reattribute.py) ----------------

RAN_OUT = "the attribution budget (20 runs) ran out"
ONE = FailureKind.SINGLE_WHEEL


def wheel_row(wheel_id: str) -> dict[str, Any]:
    sha = hashlib.sha256(wheel_id.encode()).hexdigest()
    return {
        **document("1/2", 0)["provenance"]["wheels"][0],
        "wheel_id": wheel_id,
        "module": wheel_id,
        "sha256": sha,
        "cache_key": sha[:32],
    }


def atlas_cell(
    scenario: str, order: tuple[str, ...], index: int, verdict: Verdict, step: str
) -> CellResult:
    cell = Cell(
        scenario=scenario, target="host", arch="x86_64", dlopen="local", host="plain",
        order=order, repeat=1,
    )  # fmt: skip
    made = result(cell, index, verdict)
    return replace(made, outcome=replace(made.outcome, last_step=step))


def atlas_shard(shard: str, results: list[CellResult], wheels: tuple[str, ...]) -> dict[str, Any]:
    made = document(shard, 0)
    made["provenance"]["wheels"] = [wheel_row(w) for w in wheels]
    made["run"]["planned"] = len(results)
    made["cells"] = [r.to_json() for r in results]
    return made


def merged_pair(alone: Verdict) -> CellResult:
    """The pair cell a,b of shard 1/2 segfaulting in a's exercise, whose shard ran b alone
    (it passed) but not a: its budget ran out. Shard 2/2 ran a alone, with `alone`."""
    step = "exercise a"
    pair = atlas_cell("a--b", ("a", "b"), 0, Verdict.SEGFAULT, step)
    pair = replace(
        pair,
        attribution=Attribution(
            culprits=("a", "b"),
            failure_kind=FailureKind.CROSS_WHEEL,
            step=step,
            notes=(f"not known whether a fails alone: {RAN_OUT}",),
        ),
    )
    alone_b = atlas_cell("b", ("b",), 1, Verdict.PASS, "exercise b")
    one = atlas_shard("1/2", [pair, alone_b], ("a", "b"))
    two = atlas_shard("2/2", [atlas_cell("a", ("a",), 2, alone, step)], ("a",))
    merged = merge([("one", one), ("two", two)])
    jsonschema.validate(merged.document, SCHEMA)
    (found,) = [r for r in merged.results if r.cell.scenario == "a--b"]
    assert merged.document["cells"][0] == found.to_json()
    return found


def test_merge_blames_the_wheel_another_shards_singleton_shows_failing_alone() -> None:
    found = merged_pair(Verdict.SEGFAULT)
    assert found.attribution == Attribution(
        culprits=("a",),
        failure_kind=FailureKind.SINGLE_WHEEL,
        step="exercise a",
        notes=(UNJUDGED,),  # the merge holds no expectation rules
    )
    assert found.cell.expected == "pass" and not found.outcome.matches_expectation


def test_merge_keeps_a_pair_cross_wheel_when_the_singleton_passes() -> None:
    found = merged_pair(Verdict.PASS)
    assert found.attribution == Attribution(
        culprits=("a", "b"), failure_kind=FailureKind.CROSS_WHEEL, step="exercise a"
    )


def test_a_pair_stays_as_its_shard_left_it_when_nothing_new_is_known() -> None:
    pair = atlas_cell("a--b", ("a", "b"), 0, Verdict.SEGFAULT, "exercise a")
    before = Attribution(
        culprits=("a", "b"),
        failure_kind=FailureKind.CROSS_WHEEL,
        step="exercise a",
        notes=(f"not known whether a fails alone: {RAN_OUT}",),
    )
    pair = replace(pair, attribution=before)
    alone_b = atlas_cell("b", ("b",), 1, Verdict.PASS, "exercise b")
    shard = atlas_shard("1/2", [pair, alone_b], ("a", "b"))
    merged = merge([("one", shard), ("two", atlas_shard("2/2", [], ()))])
    assert merged.reattributed == 0 and merged.results[0].attribution == before


def test_merge_credits_a_wheel_whose_singleton_failed_though_a_shards_run_of_it_passed() -> None:
    """Shard 1's attribution ran a alone in the pair's environment once, and it passed (a
    flaky failure alone), so it credited the pair; shard 2's singleton cells of the same
    wheel file segfault at the same step. Merged, the cell is credited as one run credits
    it, where the singleton cells answer first: to a alone."""
    step = "exercise a"
    pair = atlas_cell("a--b", ("a", "b"), 0, Verdict.SEGFAULT, step)
    crossed = Attribution(culprits=("a", "b"), failure_kind=FailureKind.CROSS_WHEEL, step=step)
    pair = replace(pair, attribution=crossed)
    trial = {
        "cell": str(sub_cell(pair.cell.cell_id.logical, ("a",))),
        "verdict": "pass",
        "subkind": None,
        "step": "victim _decimal",
    }
    one = atlas_shard("1/2", [pair], ("a", "b"))
    one["attribution"] = {
        "budget": 20, "runs": 1, "wall_s": 1.0, "exhausted": False, "cells": 1, "trials": [trial]
    }  # fmt: skip
    alone = atlas_cell("a", ("a",), 1, Verdict.SEGFAULT, step)
    alone = replace(alone, attribution=replace(crossed, culprits=("a",), failure_kind=ONE))
    two = atlas_shard("2/2", [alone], ("a",))
    merged = merge([("one", one), ("two", two)])
    jsonschema.validate(merged.document, SCHEMA)
    (found,) = [r for r in merged.results if r.cell.scenario == "a--b"]
    assert merged.reattributed == 1
    assert found.attribution is not None and found.attribution.culprits == ("a",)
    assert found.attribution.failure_kind == FailureKind.SINGLE_WHEEL


def test_merge_credits_a_flaky_cell_by_the_failure_most_of_its_runs_showed() -> None:
    """The pair's first run crashed at exit, its two extra runs segfaulted in a's exercise
    as a does alone: every run of it is credited to a alone, with a note naming both."""
    first = atlas_cell("a--b", ("a", "b"), 0, Verdict.EXIT_CRASH, "victim _decimal")
    crossed = Attribution(culprits=("a", "b"), failure_kind=FailureKind.CROSS_WHEEL, step="exit")
    first = replace(first, attribution=crossed)
    extras = [
        replace(
            atlas_cell("a--b", ("a", "b"), 0, Verdict.SEGFAULT, "exercise a"),
            cell=replace(first.cell, repeat=repeat),
        )
        for repeat in (2, 3)
    ]
    alone = atlas_cell("a", ("a",), 1, Verdict.SEGFAULT, "exercise a")
    shard = atlas_shard("1/2", [first, *extras], ("a", "b"))
    merged = merge([("one", shard), ("two", atlas_shard("2/2", [alone], ("a",)))])
    pairs = [r for r in merged.results if r.cell.scenario == "a--b"]
    assert len(pairs) == 3
    for found in pairs:
        assert found.attribution is not None and found.attribution.culprits == ("a",)
        assert found.attribution.step == "exercise a"
        (note,) = [n for n in found.attribution.notes if n.startswith(MIXED)]
        assert "segfault at exercise a ×2" in note and "exit-crash at exit ×1" in note


def test_an_edition_judges_a_merged_cells_expectation_with_the_scenarios_rules() -> None:
    pair = merged_pair(Verdict.SEGFAULT)
    alone = atlas_cell("a", ("a",), 2, Verdict.SEGFAULT, "exercise a")
    rules = {
        "a--b": (
            Expectation(
                when=Selector(failure_kind=(FailureKind.SINGLE_WHEEL,)), verdict=Verdict.SEGFAULT
            ),
        )
    }
    again = reattribute([pair, alone], {}, rules=rules)
    assert again[0].attribution is not None and again[0].attribution.notes == ()
    assert again[0].cell.expected == "segfault" and again[0].outcome.matches_expectation
    # A failing cell written without an attribution (an extra run, before they had one)
    # gets one too, as a run now gives it.
    assert alone.attribution is None and again[1].attribution is not None
    assert again[1].attribution.culprits == ("a",)
    assert again[1].attribution.failure_kind == FailureKind.SINGLE_WHEEL


def test_results_merged_before_are_attributed_again_as_a_document() -> None:
    pair = atlas_cell("a--b", ("a", "b"), 0, Verdict.SEGFAULT, "exercise a")
    pair = replace(
        pair,
        attribution=Attribution(
            culprits=("a", "b"),
            failure_kind=FailureKind.CROSS_WHEEL,
            step="exercise a",
            notes=(f"not known whether a, b fail alone: {RAN_OUT}",),
        ),
    )
    alone = [
        atlas_cell("a", ("a",), 1, Verdict.PASS, "exercise a"),
        atlas_cell("b", ("b",), 2, Verdict.SEGFAULT, "exercise b"),  # not the same step
    ]
    old = atlas_shard("1/2", [pair, *alone], ("a", "b"))
    old["summary"] = {"cells": 3, "unexpected": 2, "verdicts": {}}
    results = (pair, *alone)
    document, again, changed = reattribute_document(old, results, {"a--b": ()})
    jsonschema.validate(document, SCHEMA)
    # The pair, and b's failing cell, which had no attribution; a's passing cell is kept.
    assert changed == 2 and document["cells"][1] == old["cells"][1]
    assert again[2].attribution is not None and again[2].attribution.culprits == ("b",)
    assert again[0].attribution == Attribution(
        culprits=("a", "b"), failure_kind=FailureKind.CROSS_WHEEL, step="exercise a"
    )
    assert document["cells"][0] == again[0].to_json() and document["summary"]["unexpected"] == 2
    assert reattribute_document(document, again)[2] == 0
