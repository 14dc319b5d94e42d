"""Mechanisms 4 to 7 and first-use order on this machine, with real wheels and processes.

The same scenarios run on debian:bookworm and debian:trixie when pytest collects
`scenarios/` (the plugin picks the docker backend for scenarios that name targets); this
test pins the local backend and checks the evidence behind each verdict.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from harness import paths
from harness.cli import main
from harness.common.ids import CellId
from harness.evidence.results import CellOutcome
from tests.integration.conftest import SCENARIOS, cells_in

SCHEMA = json.loads(paths.RESULTS_SCHEMA.read_text())
NAMES = (
    "unique-layouts",
    "unique-layouts-no-gnu-unique",
    "unique-layouts-hidden",
    "static-tls",
    "static-tls-dynamic",
    "same-soname",
    "same-soname-hashed",
    "exit-crash",
    "exit-crash-version-script",
    "first-use-soname",
)


def test_mechanisms_4_to_7_and_first_use_on_this_machine(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One run of every scenario (one test, so that xdist does not run it twice)."""
    scenarios = [str(SCENARIOS / f"{name}.toml") for name in NAMES]
    code = main(["run", *scenarios, "--backend", "local", "--results", str(tmp_path), "--json"])
    document: dict[str, Any] = json.loads(capsys.readouterr().out)
    check_every_cell_meets_its_expectation(code, document)
    check_gnu_unique_layouts(document)
    check_static_tls(document)
    check_same_soname_and_its_audit(document)
    check_exit_crash_after_the_sentinel(document)
    check_first_use_order_decides(document)


def by_cell(document: dict[str, Any], scenario: str) -> dict[str, set[str]]:
    """Verdicts (with subkind) per cell id without scenario, target and repeat."""
    found: dict[str, set[str]] = defaultdict(set)
    for cell in cells_in(document):
        if cell.cell.scenario == scenario:
            key = CellId.parse(cell.id).logical.tail
            outcome = cell.outcome
            found[key].add(outcome.verdict + (f":{outcome.subkind}" if outcome.subkind else ""))
    return dict(found)


def outcome_of(document: dict[str, Any], cell_id: str) -> CellOutcome:
    return next(c.outcome for c in cells_in(document) if c.id == cell_id)


def check_every_cell_meets_its_expectation(exit_code: int, document: dict[str, Any]) -> None:
    jsonschema.validate(document, SCHEMA)
    cells = cells_in(document)
    unexpected = [c.id for c in cells if not c.outcome.matches_expectation]
    assert exit_code == 0 and unexpected == []
    repeats = {c.cell.repeat for c in cells}
    assert repeats == {1, 2, 3}
    # deterministic: one verdict per cell over its repeats
    for name in NAMES:
        assert all(len(v) == 1 for v in by_cell(document, name).values()), name


def check_gnu_unique_layouts(document: dict[str, Any]) -> None:
    cells = by_cell(document, "unique-layouts")
    for mode in ("local/plain", "local/preload-libstdcxx", "global-all/plain"):
        assert cells[f"{mode}/small,big"] == {"segfault"}
        assert cells[f"{mode}/big,small"] == {"wrong-result"}
    crash = outcome_of(document, "unique-layouts/host/local/plain/small,big#1")
    assert crash.last_step == "import wc_unique_v2_big"
    wrong = outcome_of(document, "unique-layouts/host/local/plain/big,small#1")
    assert "counted 12 hits, expected 11" in wrong.detail
    twin = by_cell(document, "unique-layouts-no-gnu-unique")
    assert twin["local/plain/small,big"] == twin["local/plain/big,small"] == {"pass"}
    assert twin["global-all/plain/small,big"] == {"segfault"}
    assert set().union(*by_cell(document, "unique-layouts-hidden").values()) == {"pass"}


def check_static_tls(document: dict[str, Any]) -> None:
    cells = by_cell(document, "static-tls")
    assert cells["local/plain/desc,ie"] == {"import-error:static-tls"}
    assert cells["local/plain/ie,desc"] == {"pass"}
    assert set().union(*by_cell(document, "static-tls-dynamic").values()) == {"pass"}


def check_same_soname_and_its_audit(document: dict[str, Any]) -> None:
    cells = by_cell(document, "same-soname")
    assert cells["local/plain/one,two"] == {"import-error:undefined-symbol"}
    assert cells["local/plain/two,one"] == {"wrong-result"}
    hashed = by_cell(document, "same-soname-hashed")
    assert hashed["local/plain/one,two"] == hashed["local/plain/two,one"] == {"pass"}
    audits = {w["fixture"]: w["audit"] for w in document["provenance"]["wheels"]}
    assert "bundles libfoo.so.1 (libfoo.so.1 not under a hashed name" in audits["soname_v1"]
    assert "not under a hashed name" not in audits["soname_v1_hashed"]
    assert "bundles libfoo-" in audits["soname_v1_hashed"]


def check_exit_crash_after_the_sentinel(document: dict[str, Any]) -> None:
    cells = by_cell(document, "exit-crash")
    assert cells["global:a/plain/a,b"] == {"exit-crash"}
    assert cells["global:a/plain/b,a"] == cells["local/plain/a,b"] == {"pass"}
    crash = outcome_of(document, "exit-crash/host/global:a/plain/a,b#1")
    assert crash.signal == 6 and "double free" in crash.stderr_tail
    assert set().union(*by_cell(document, "exit-crash-version-script").values()) == {"pass"}


def check_first_use_order_decides(document: dict[str, Any]) -> None:
    cells = by_cell(document, "first-use-soname")
    assert cells == {
        "local/plain/one,two": {"wrong-result"},
        "local/plain/one,two/use:two,one": {"pass"},
        "local/plain/two,one": {"pass"},
        "local/plain/two,one/use:one,two": {"wrong-result"},
    }
    used = [
        c.cell for c in cells_in(document) if c.cell.scenario == "first-use-soname" and c.cell.use
    ]
    assert {c.use for c in used} == {("one", "two"), ("two", "one")}
