"""What `run` and `check` print: the plan, and the run's summary."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

from harness.analysis import agreement, baseline
from harness.cli import progress_view
from harness.cli.options import Placement, progress_mode
from harness.report import culprits
from harness.report import terminal as report
from harness.report.write import write_reports
from harness.run import runner
from harness.run.runner import Backends, RunRequest, RunSummary, cells_for, selected
from harness.scenario.load import Scenario
from harness.scenario.plan import coverage, expected_for


def print_plan(scenarios: Sequence[Scenario], where: Placement, select: Sequence[str] = ()) -> int:
    """Each cell that would run, with its expectation; nothing runs."""
    backends = Backends(where.backend, where.targets, where.engines)
    for scenario in scenarios:
        backend = backends.for_scenario(scenario)
        covered = coverage(scenario)
        if covered.strength is not None:
            print(f"# {scenario.name}: {covered.describe()}")
        for cell in selected(cells_for(scenario, backend, where.targets, where.arches), select):
            print(f"{cell.id}  expect {expected_for(scenario.expectations, cell)}")
    return 0


def run_with_progress(request: RunRequest, args: argparse.Namespace) -> RunSummary:
    """The run, with its progress on stderr as `--progress`/`-q` say."""
    with progress_view.shown(progress_mode(args)):
        return runner.execute(request)


def conclude(
    summary: RunSummary, *, as_json: bool, comparison: baseline.Comparison | None = None
) -> int:
    """Write report.html and summary.md beside results.json, print results.json (`as_json`)
    or the terminal summary, and return the exit code (against the baseline, when given)."""
    html_path, markdown_path = write_reports(summary.results_path)
    exit_code = baseline.exit_code(summary.exit_code, comparison)
    if as_json:
        print(json.dumps(json.loads(summary.results_path.read_text()), indent=2))
        return exit_code
    print(report.matrix(summary.results))
    unexpected = [r for r in summary.results if not r.outcome.matches_expectation]
    if unexpected:
        print("\nunexpected verdicts:")
        for result in unexpected:
            print(report.failure_block(result))
        print(f"\nreproduce one without wheelclash: wheelclash repro '{unexpected[0].id}'")
    by_culprit = culprits.summary_lines(summary.results)
    if by_culprit:
        print("\nfailures by culprit:")
        for line in by_culprit:
            print(f"  {line}")
    for line in agreement.summary_lines(summary.results_path):
        print(line)
    print(f"\n{report.summary_line(summary.results)}")
    for name, covered in summary.coverage:
        if covered.strength is not None:
            print(f"{name}: {covered.describe()}")
    captured = sum(bool(r.evidence.artefacts) for r in summary.results)
    if captured:
        print(f"crash evidence of {captured} failing cells: {summary.run_dir}/<cell>/")
    if comparison is not None:
        print(baseline.text(comparison))
    print(f"results: {summary.results_path}")
    print(f"report: {html_path} (summary: {markdown_path.name})")
    return exit_code
