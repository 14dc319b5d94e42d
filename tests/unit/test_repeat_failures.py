"""`--repeat-failures N`: which extra runs a run adds, and where they go in results.json."""

from __future__ import annotations

from harness.run.repeats import extra_runs, results_order
from harness.run.state import CellIndex, Entry
from harness.scenario.plan import Cell


def cell(order: str, dlopen: str = "local", repeat: int = 1, scenario: str = "p") -> Cell:
    return Cell(
        scenario=scenario,
        target="host",
        arch="x86_64",
        dlopen=dlopen,
        host="plain",
        order=tuple(order.split(",")),
        repeat=repeat,
    )


def index(verdicts: dict[str, str]) -> CellIndex:
    return CellIndex(
        entries={c: Entry(offset=0, verdict=v, matches=v == "pass") for c, v in verdicts.items()}
    )


def test_only_failing_cells_run_again_up_to_n_runs_in_all() -> None:
    ab, ba = cell("a,b", "global-first"), cell("b,a", "global-first")
    other = cell("a,c", scenario="q")
    done = index(
        {ab.id: "segfault", ba.id: "pass", other.id: "not-installable", cell("c,a").id: "pass"}
    )
    again = extra_runs([[ab, ba], [other]], done, 3)
    assert [[c.id for c in unit] for unit in again] == [
        ["p/host/global-first/plain/a,b#2", "p/host/global-first/plain/a,b#3"]
    ]
    assert extra_runs([[ab, ba]], done, 1) == ()


def test_runs_already_made_are_not_made_again_and_planned_repeats_count() -> None:
    first, second = cell("a,b"), cell("a,b", repeat=2)
    done = index({first.id: "pass", second.id: "wrong-result", cell("a,b", repeat=3).id: "pass"})
    again = extra_runs([[first, second]], done, 4)
    assert [c.id for unit in again for c in unit] == ["p/host/local/plain/a,b#4"]
    assert extra_runs([[first, second]], done, 3) == ()


def test_extra_runs_follow_their_cell_in_results_order() -> None:
    ab, ba = cell("a,b"), cell("b,a")
    done = index({ab.id: "abort", ba.id: "pass", "p/host/local/plain/a,b#2": "abort"})
    assert results_order([ab.id, ba.id], done) == (
        "p/host/local/plain/a,b#1",
        "p/host/local/plain/a,b#2",
        "p/host/local/plain/b,a#1",
    )
