"""Atlas editions: the summary's groups and their hook for attribution, and `atlas diff`'s
four lists, on results written the way a run writes them."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from harness.analysis.atlas_diff import diff_paths, text
from harness.common.verdicts import FailureKind, Verdict
from harness.errors import InputError
from harness.evidence.results import Attribution, load_results
from harness.report.atlas_edition import (
    culprit_set,
    edition_name,
    groups,
    summary_markdown,
)
from harness.report.atlas_write import write_edition
from tests.unit.helpers import made_result, written_run

P, S, A, W, N = (
    Verdict.PASS,
    Verdict.SEGFAULT,
    Verdict.ABORT,
    Verdict.WRONG_RESULT,
    Verdict.NOT_INSTALLABLE,
)


def run(folder: Path, verdicts: dict[tuple[str, str], Verdict]) -> Path:
    """A run of pair scenarios named `x--y`, one cell per (pair, order)."""
    results = [
        made_result(pair, tuple(order.split(",")), verdict, reproducer=f"python -c 'x|{order}'")
        for (pair, order), verdict in verdicts.items()
    ]
    return written_run(folder, results).parent


def test_edition_names() -> None:
    assert edition_name("2026-12-04", "debian:bookworm", "x86_64") == "2026-12-04-debian-bookworm"
    assert edition_name("2026-12-04", "debian:bookworm", "aarch64") == (
        "2026-12-04-debian-bookworm-aarch64"
    )


def test_failures_group_by_pair_until_cells_carry_culprits(tmp_path: Path) -> None:
    folder = run(
        tmp_path / "r",
        {
            ("a--b", "a,b"): S,
            ("a--b", "b,a"): A,
            ("a--c", "a,c"): P,
            ("b--c", "c,b"): N,
        },
    )
    document, results = load_results(folder)
    (group,) = groups(document, results)
    assert (group.culprits, group.attributed, group.mode) == (("a", "b"), False, "local")
    assert group.counts() == "a,b: segfault 1/1; b,a: abort 1/1"
    assert group.first_failure().id == "a--b/host/local/plain/a,b#1"
    # the hook: a cell that carries an attribution is grouped by its culprits
    crash = results[0]
    assert culprit_set({"attribution": {"culprits": ["b"]}}, crash) == (("b",), True)
    assert culprit_set({}, crash) == (("a", "b"), False)

    summary = summary_markdown(document, results, title="Atlas t", run_dir=folder)
    row = next(line for line in summary.splitlines() if "| a + b *pair* |" in line)
    assert "not explained" in row and "`a--b/host/local/plain/a,b#1`" in row
    assert "   python -c 'x|a,b'" in summary.split("### Reproducers")[1]
    assert "## Not installable together" in summary and "- b--c: " in summary
    assert "| pass | 1 |" in summary


def test_an_edition_is_of_one_target(tmp_path: Path) -> None:
    folder = run(tmp_path / "r", {("a--b", "a,b"): S})
    edition = write_edition(folder, tmp_path / "ed", title="Atlas t")
    again = write_edition(folder, tmp_path / "ed", title="Atlas t")
    assert again.name == edition.name + "-2"
    assert (edition / "summary.md").read_text().startswith("# Atlas t")
    with pytest.raises(InputError, match="no such file"):
        write_edition(tmp_path / "absent", tmp_path / "ed", title="x")


def test_diff_lists_new_conflicts_fixed_ones_and_changed_verdicts(tmp_path: Path) -> None:
    old = run(
        tmp_path / "old",
        {
            ("a--b", "a,b"): S,
            ("a--b", "b,a"): P,
            ("a--c", "a,c"): W,
            ("a--c", "c,a"): P,
            ("b--c", "b,c"): P,
            ("a--d", "a,d"): S,
        },
    )
    new = run(
        tmp_path / "new",
        {
            ("a--b", "a,b"): A,  # changed: both fail
            ("a--b", "b,a"): S,  # new conflict
            ("a--c", "a,c"): P,  # fixed
            ("a--c", "c,a"): P,
            ("b--c", "b,c"): N,  # changed: neither fails
            ("a--e", "a,e"): S,  # a new pair that fails: a new conflict
        },
    )
    found = diff_paths(old, new)
    assert [c.cell for c in found.new_conflicts] == [
        "a--b/host/local/plain/b,a",
        "a--e/host/local/plain/a,e",
    ]
    assert [c.cell for c in found.fixed] == [
        "a--c/host/local/plain/a,c",
        "a--d/host/local/plain/a,d",  # its pair is gone
    ]
    assert [(c.cell, c.a, c.b) for c in found.changed] == [
        ("a--b/host/local/plain/a,b", ("segfault",), ("abort",)),
        ("b--c/host/local/plain/b,c", ("pass",), ("not-installable",)),
    ]
    assert found.exit_code == 1 and found.cells == 5
    shown = text(found)
    assert "(not in old)" in shown and "(not in new)" in shown
    assert diff_paths(old, old).exit_code == 0


def test_diff_lists_changed_credits(tmp_path: Path) -> None:
    """The same failure credited to the pair before and to one wheel now is a change."""

    def credited(folder: Path, culprits: tuple[str, ...]) -> Path:
        kind = FailureKind.CROSS_WHEEL if len(culprits) == 2 else FailureKind.SINGLE_WHEEL
        crash = made_result("a--b", ("a", "b"), S)
        crash = replace(
            crash, attribution=Attribution(culprits=culprits, failure_kind=kind, step="")
        )
        return written_run(folder, [crash, made_result("a--b", ("b", "a"), P)]).parent

    old = credited(tmp_path / "old", ("a", "b"))
    new = credited(tmp_path / "new", ("a",))
    found = diff_paths(old, new)
    assert not (found.new_conflicts or found.fixed or found.changed)
    assert [(c.cell, c.a, c.b) for c in found.credits] == [
        ("a--b/host/local/plain/a,b", ("a+b (cross-wheel)",), ("a (single-wheel)",))
    ]
    assert found.exit_code == 1 and "1 changed credits" in text(found)
    assert diff_paths(new, new).exit_code == 0


def test_an_edition_attributes_again_what_its_merged_results_did_not_know(
    tmp_path: Path,
) -> None:
    """Results merged before merge attributed again: the pair's shard did not know whether a
    fails alone, while a's singleton cell (segfault, the same way) is among the results."""
    unknown = "not known whether a fails alone: the attribution budget (20 runs) ran out"
    pair = made_result("a--b", ("a", "b"), S)
    pair = replace(
        pair,
        attribution=Attribution(
            culprits=("a", "b"), failure_kind=FailureKind.CROSS_WHEEL, step="", notes=(unknown,)
        ),
    )
    alone = made_result("a", ("a",), S)
    alone = replace(
        alone,
        attribution=Attribution(culprits=("a",), failure_kind=FailureKind.SINGLE_WHEEL, step=""),
    )
    path = written_run(tmp_path / "r", [pair, alone, made_result("b", ("b",), P)])
    document = json.loads(path.read_text())
    document["provenance"]["wheels"] = [
        {"wheel_id": w, "sha256": w * 64, "cache_key": w} for w in ("a", "b")
    ]
    path.write_text(json.dumps(document))
    said: list[str] = []
    edition = write_edition(path, tmp_path / "ed", title="t", rules={"a--b": ()}, said=said.append)
    assert said == ["attributed 1 failing cells again from the results' own cells"]
    _, cells = load_results(edition / "results.json")
    assert cells[0].attribution == Attribution(
        culprits=("a",), failure_kind=FailureKind.SINGLE_WHEEL, step=""
    )
    assert cells[1:] == load_results(path)[1][1:]


def test_the_summary_says_how_often_a_failing_cell_ran(tmp_path: Path) -> None:
    """From the run's setting; for results merged before merges kept it, from the repeats."""
    results = [made_result("a--b", ("a", "b"), S, repeat=n) for n in (1, 2, 3)]
    folder = written_run(tmp_path / "r", results).parent
    document, loaded = load_results(folder)

    def said(run: dict[str, object]) -> str:
        text = summary_markdown({**document, "run": run}, loaded, title="t", run_dir=folder)
        return text.split("A failing cell was run ")[1].split(" ")[0]

    assert said({"repeat_failures": 5}) == "5"
    assert said({}) == "3"


def test_a_cells_repeats_are_grouped_by_its_attributed_runs_culprits(tmp_path: Path) -> None:
    first = made_result("a--b", ("a", "b"), S)
    first = replace(
        first,
        attribution=Attribution(culprits=("a",), failure_kind=FailureKind.SINGLE_WHEEL, step=""),
    )
    repeats = [made_result("a--b", ("a", "b"), S, repeat=n) for n in (2, 3)]
    folder = written_run(tmp_path / "r", [first, *repeats]).parent
    document, loaded = load_results(folder)
    (group,) = groups(document, loaded)
    assert group.culprits == ("a",) and group.attributed and len(group.runs) == 3
