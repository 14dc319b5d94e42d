"""Join the results of several shards or machines into one results.json and one report."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from harness.analysis import merge
from harness.common.verdicts import Verdict
from harness.evidence.results import RESULTS_NAME, new_run_id
from harness.report import terminal as report
from harness.report.write import write_reports
from harness.run.runner import EXIT_INFRA, EXIT_OK, EXIT_UNEXPECTED
from harness.scenario.config import Defaults


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "inputs",
        nargs="+",
        type=Path,
        metavar="RESULTS",
        help="results.json files or run folders, e.g. one per `--shard k/n` job",
    )
    parser.add_argument(
        "--results", type=Path, default=None, help="results root (default: results)"
    )
    parser.add_argument("--json", action="store_true", help="print the merged results.json")


def execute(args: argparse.Namespace) -> int:
    documents = [(str(path), merge.read(path)) for path in args.inputs]
    merged = merge.merge(documents)
    root = args.results or Defaults.from_pyproject().results
    run_dir = root / f"{new_run_id()}-merged"
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / RESULTS_NAME
    path.write_text(json.dumps(merged.document, indent=2) + "\n", encoding="utf-8")
    html_path, markdown_path = write_reports(path)
    results = merged.results
    for note in merged.notes:
        print(f"wheelclash: warning: {note}", file=sys.stderr)
    if args.json:
        print(json.dumps(merged.document, indent=2))
    else:
        print(report.matrix(results))
        unexpected = [r for r in results if not r.outcome.matches_expectation]
        if unexpected:
            print("\nunexpected verdicts:")
            for result in unexpected:
                print(report.failure_block(result))
        print(f"\n{report.summary_line(results)}")
        print(f"merged {len(documents)} results: {path}")
        if merged.reattributed:
            print(
                f"attributed {merged.reattributed} failing cells again from the merged cells "
                "(a wheel's singleton another shard ran)"
            )
        print(f"report: {html_path} (summary: {markdown_path.name})")
    if any(r.outcome.verdict == Verdict.INFRA_ERROR for r in results):
        return EXIT_INFRA
    if any(not r.outcome.matches_expectation for r in results) or merged.notes:
        return EXIT_UNEXPECTED
    return EXIT_OK
