"""Render a run's results: the self-contained HTML report, or the Markdown summary.

`wheelclash report results/<run-id>` writes report.html (and summary.md) beside the run's
results.json and prints the report's path. `--format markdown` prints the Markdown summary
instead, e.g. `>> "$GITHUB_STEP_SUMMARY"` in GitHub Actions.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.report import html as html_report
from harness.report import markdown as markdown_report
from harness.report.model import load_view
from harness.report.write import write_reports


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "results", type=Path, metavar="RESULTS_DIR", help="a run folder or its results.json"
    )
    parser.add_argument(
        "--format",
        choices=("html", "markdown"),
        default="html",
        help="html: write report.html and summary.md beside results.json (default); "
        "markdown: print the summary to stdout",
    )
    parser.add_argument(
        "--output", type=Path, default=None, help="write the chosen format to this file instead"
    )


def execute(args: argparse.Namespace) -> int:
    if args.output is not None:
        _, _, view = load_view(args.results)
        render = html_report.render if args.format == "html" else markdown_report.render
        args.output.write_text(render(view), encoding="utf-8")
        print(args.output)
        return 0
    if args.format == "markdown":
        _, _, view = load_view(args.results)
        print(markdown_report.render(view), end="")
        return 0
    html_path, markdown_path = write_reports(args.results)
    print(f"report: {html_path}\nsummary: {markdown_path}")
    return 0
