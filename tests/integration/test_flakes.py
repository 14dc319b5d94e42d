"""The same inputs three times give the same verdicts; a flaky wheel is reported as flaky.

Three real runs of torture scenarios on the local backend must agree cell for cell. A wheel
that crashes on a coin flip (tests/data/determinism/coin-flip.toml, 8 repeats a run) must come
out flaky, with both outcomes in its distribution, and never as a plain pass.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from harness.common.ids import LogicalId
from harness.evidence.flakes import flaky, stability
from harness.evidence.results import CellResult
from harness.run.runner import RunRequest, execute
from tests.integration.conftest import REPO

DATA: Final = REPO / "tests" / "data"
STEADY: Final = tuple(
    DATA / "torture" / f"{name}.toml"
    for name in ("pass", "segv", "abort", "hang-deaf", "exit-segv", "undefined-symbol", "orphan")
)
COIN: Final = DATA / "determinism" / "coin-flip.toml"
RUNS: Final = 3


def run(results: Path) -> tuple[CellResult, ...]:
    request = RunRequest(scenarios=(*STEADY, COIN), backend="local", results_root=results)
    return execute(request).results


def test_three_runs_agree_and_the_coin_is_flaky(tmp_path: Path) -> None:
    runs = [run(tmp_path / str(index)) for index in range(RUNS)]
    report = {LogicalId.parse(s.key).scenario: s for s in stability(runs)}
    assert len(report) == len(STEADY) + 1
    [coin] = flaky(runs)
    assert coin.key.startswith("coin-flip/")
    assert {label for label, _ in coin.distribution} == {"pass", "segfault"}, coin.describe()
    assert coin.samples == 8 * RUNS
    for name, cell in report.items():
        if name != "coin-flip":
            assert not cell.flaky and cell.samples == RUNS, cell.describe()
    # Run by run, cell by cell: the steady cells' verdicts are identical.
    steady = [
        [
            (r.id, r.outcome.verdict, r.outcome.subkind)
            for r in results
            if r.cell.scenario != "coin-flip"
        ]
        for results in runs
    ]
    assert steady[0] == steady[1] == steady[2]
